package activities_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

// retentionWorld is a database with rows on both sides of the cutoffs.
type retentionWorld struct {
	db      *gorm.DB
	account uint64
	now     time.Time
	// kept are the account_events ids that must survive: recent ones, held
	// messages and the newest of each kind and type.
	kept []uint64
}

func seedRetention(t *testing.T, db *gorm.DB) *retentionWorld {
	t.Helper()
	w := &retentionWorld{db: db, now: time.Now().UTC().Truncate(time.Second)}
	acc := models.Account{Name: "Acme", Key: "acme", PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
		Region: models.RegionEU, ProjectID: "p", AppID: "app", KeyID: "k", Phone: "+390212345678", Channels: "WHATSAPP"}
	require.NoError(t, db.Create(&acc).Error)
	w.account = acc.ID
	old, recent := w.now.Add(-100*24*time.Hour), w.now.Add(-time.Hour)
	for i := range 7 {
		at := old.Add(time.Duration(i) * time.Minute)
		if i >= 5 {
			at = recent
		}
		require.NoError(t, db.Create(&models.AgentEvent{AgentID: 3, Type: "message.inbound", Data: "{}",
			DedupKey: fmt.Sprintf("ev-%d", i), CreatedAt: at}).Error)
	}
	event := func(kind, typ string, at time.Time, keep bool) {
		ev := models.AccountEvent{AccountID: acc.ID, Kind: kind, Type: typ, Payload: "{}", OccurredAt: at, CreatedAt: at}
		require.NoError(t, db.Create(&ev).Error)
		if keep {
			w.kept = append(w.kept, ev.ID)
		}
	}
	// Three old quality-rating changes: the newest of them stays.
	event("CHANNEL_EVENT", "WHATS_APP_QUALITY_RATING_CHANGED", old, false)
	event("CHANNEL_EVENT", "WHATS_APP_QUALITY_RATING_CHANGED", old.Add(time.Minute), false)
	event("CHANNEL_EVENT", "WHATS_APP_QUALITY_RATING_CHANGED", old.Add(2*time.Minute), true)
	// Another type of the same kind does not count as newer.
	event("CHANNEL_EVENT", "WHATS_APP_ACCOUNT_UPDATE", old.Add(3*time.Minute), true)
	// Old reminders go, as a recent one exists.
	event(activities.MigrationReminderKind, string(models.MigrationAwaitingConfirmation), old, false)
	event(activities.MigrationReminderKind, string(models.MigrationAwaitingConfirmation), old.Add(time.Hour), false)
	event(activities.MigrationReminderKind, string(models.MigrationAwaitingConfirmation), recent, true)
	// Held messages are the only copy of a customer's message: never pruned.
	event(activities.HeldMessageKind, "sinch-msg-1", old, true)
	event(activities.HeldMessageKind, "sinch-msg-2", old, true)
	event("OPT_OUT", "", old, false)
	event("OPT_OUT", "", recent, true)
	for i := range 5 {
		at := old
		if i >= 3 {
			at = recent
		}
		require.NoError(t, db.Create(&models.WebhookNonce{AccountID: acc.ID, Nonce: fmt.Sprintf("n-%d", i), SeenAt: at}).Error)
	}
	return w
}

func TestPrune(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			db := testdb.Open(t, engine)
			w := seedRetention(t, db)
			var ts testsuite.WorkflowTestSuite
			env := ts.NewTestActivityEnvironment()
			acts := &activities.Activities{DB: db}
			env.RegisterActivity(acts)
			cut := w.now.Add(-30 * 24 * time.Hour)
			// Batches of 2 rows: each table takes several statements.
			in := activities.PruneInput{AgentEventsBefore: cut, AccountEventsBefore: cut, NoncesBefore: cut, BatchSize: 2}

			val, err := env.ExecuteActivity(acts.Prune, in)
			require.NoError(t, err)
			var res activities.PruneResult
			require.NoError(t, val.Get(&res))
			assert.Equal(t, activities.PruneResult{AgentEvents: 5, AccountEvents: 5, Nonces: 3}, res)

			var agentKeys []string
			require.NoError(t, db.Model(&models.AgentEvent{}).Order("id").Pluck("dedup_key", &agentKeys).Error)
			assert.Equal(t, []string{"ev-5", "ev-6"}, agentKeys, "recent agent events stay")
			var kept []uint64
			require.NoError(t, db.Model(&models.AccountEvent{}).Order("id").Pluck("id", &kept).Error)
			assert.Equal(t, w.kept, kept, "recent, held and newest-of-their-type account events stay")
			var nonces []string
			require.NoError(t, db.Model(&models.WebhookNonce{}).Order("nonce").Pluck("nonce", &nonces).Error)
			assert.Equal(t, []string{"n-3", "n-4"}, nonces)

			val, err = env.ExecuteActivity(acts.Prune, in)
			require.NoError(t, err)
			res = activities.PruneResult{}
			require.NoError(t, val.Get(&res))
			assert.Equal(t, activities.PruneResult{}, res, "a second run deletes nothing")

			// A zero cutoff keeps its table whole.
			val, err = env.ExecuteActivity(acts.Prune, activities.PruneInput{AgentEventsBefore: w.now.Add(time.Minute)})
			require.NoError(t, err)
			res = activities.PruneResult{}
			require.NoError(t, val.Get(&res))
			assert.Equal(t, activities.PruneResult{AgentEvents: 2}, res)
			var n int64
			require.NoError(t, db.Model(&models.AccountEvent{}).Count(&n).Error)
			assert.EqualValues(t, len(w.kept), n)
			require.NoError(t, db.Model(&models.WebhookNonce{}).Count(&n).Error)
			assert.EqualValues(t, 2, n)

			// A retried attempt resumes from its last heartbeat's counts.
			retry := ts.NewTestActivityEnvironment()
			retry.RegisterActivity(acts)
			retry.SetHeartbeatDetails(activities.PruneResult{AgentEvents: 4000, Nonces: 9})
			val, err = retry.ExecuteActivity(acts.Prune, in)
			require.NoError(t, err)
			res = activities.PruneResult{}
			require.NoError(t, val.Get(&res))
			assert.Equal(t, activities.PruneResult{AgentEvents: 4000, Nonces: 9}, res)
		})
	}
}

// mediaWorld is a conversation with attachments on both sides of the
// media cutoff and their files in a real store.
type mediaWorld struct {
	db    *gorm.DB
	store *media.FS
	msg   models.Message
	now   time.Time
}

func newMediaWorld(t *testing.T, engine models.Engine) *mediaWorld {
	t.Helper()
	db := testdb.Open(t, engine)
	store, err := media.NewFS(t.TempDir(), 0)
	require.NoError(t, err)
	w := &mediaWorld{db: db, store: store, now: time.Now().UTC().Truncate(time.Second)}
	acc := models.Account{Name: "Acme", Key: "acme", PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
		Region: models.RegionEU, ProjectID: "p", AppID: "app", KeyID: "k", Phone: "+390212345678", Channels: "WHATSAPP"}
	require.NoError(t, db.Create(&acc).Error)
	c := models.Contact{AccountID: acc.ID, Channel: models.ChannelWhatsApp, Identity: "393331112222"}
	require.NoError(t, db.Create(&c).Error)
	in := models.Interaction{Key: "wf#1", WorkflowID: "wf", AccountID: acc.ID, ContactID: c.ID, Channel: models.ChannelWhatsApp,
		Status: models.InteractionQueued, OpenedAt: w.now}
	require.NoError(t, db.Create(&in).Error)
	w.msg = models.Message{AccountID: acc.ID, InteractionID: in.ID, ContactID: c.ID, Direction: models.DirectionInbound,
		Kind: "media", Status: models.StatusReceived}
	require.NoError(t, db.Create(&w.msg).Error)
	return w
}

// put stores content as if last stored at at (the file's time is what
// MediaPutGrace reads) and returns its key.
func (w *mediaWorld) put(t *testing.T, content string, at time.Time) string {
	t.Helper()
	obj, err := w.store.Put(context.Background(), strings.NewReader(content), 1<<20)
	require.NoError(t, err)
	w.age(t, obj.Key, at)
	return obj.Key
}

// age sets when key's content was last stored.
func (w *mediaWorld) age(t *testing.T, key string, at time.Time) {
	t.Helper()
	require.NoError(t, os.Chtimes(filepath.Join(w.store.Dir(), key[0:2], key[2:4], key), at, at))
}

// attach records an attachment of the world's message; fetched nil leaves
// fetched_at NULL (a row stored before that column existed).
func (w *mediaWorld) attach(t *testing.T, name, key string, status models.AttachmentStatus, fetched *time.Time, created time.Time) uint64 {
	t.Helper()
	att := models.Attachment{MessageID: w.msg.ID, AccountID: w.msg.AccountID, SourceURL: "https://media.example.com/" + name,
		Direction: models.DirectionInbound, Filename: name, StoragePath: key, Status: status, FetchedAt: fetched, CreatedAt: created}
	require.NoError(t, w.db.Create(&att).Error)
	return att.ID
}

func (w *mediaWorld) stored(key string) bool {
	f, _, err := w.store.Open(key)
	if err != nil {
		return false
	}
	_ = f.Close()
	return true
}

func (w *mediaWorld) row(t *testing.T, id uint64) models.Attachment {
	t.Helper()
	var att models.Attachment
	require.NoError(t, w.db.Take(&att, id).Error)
	return att
}

func prune(t *testing.T, env *testsuite.TestActivityEnvironment, acts *activities.Activities, in activities.PruneInput) activities.PruneResult {
	t.Helper()
	val, err := env.ExecuteActivity(acts.Prune, in)
	require.NoError(t, err)
	var res activities.PruneResult
	require.NoError(t, val.Get(&res))
	return res
}

// TestPruneMedia: files stored before the cutoff are deleted and their
// attachments say expired (rows and messages stay); younger ones stay; a
// file a younger attachment also uses keeps its bytes, and so does one
// stored again within MediaPutGrace (an upload on its way) until a later
// run; bytes a crashed run or an admin deletion left behind are released;
// off deletes nothing and a second run nothing more.
func TestPruneMedia(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			w := newMediaWorld(t, engine)
			old, young := w.now.Add(-100*24*time.Hour), w.now.Add(-2*time.Hour)
			oldKey, youngKey, sharedKey := w.put(t, "old file", old), w.put(t, "young file", young), w.put(t, "shared file", young)
			legacyKey, leftKey, adminKey := w.put(t, "legacy file", old), w.put(t, "left by a crash", old), w.put(t, "deleted by an admin", young)
			busyKey := w.put(t, "uploaded again", w.now)
			oldID := w.attach(t, "old.jpg", oldKey, models.AttachmentStored, &old, old)
			// Recorded long ago, stored two hours ago (a fetch retried
			// late): its age counts from when the file was stored.
			youngID := w.attach(t, "young.jpg", youngKey, models.AttachmentStored, &young, old)
			sharedOld := w.attach(t, "shared-old.pdf", sharedKey, models.AttachmentStored, &old, old)
			sharedYoung := w.attach(t, "shared-young.pdf", sharedKey, models.AttachmentStored, &young, young)
			// Stored before fetched_at existed: its age is its row's.
			legacyID := w.attach(t, "legacy.png", legacyKey, models.AttachmentStored, nil, old)
			// Expired by an attempt that crashed before deleting the bytes,
			// and deleted by an admin whose request ended the same way.
			leftID := w.attach(t, "left.mp3", leftKey, models.AttachmentExpired, &old, old)
			adminID := w.attach(t, "admin.mp4", adminKey, models.AttachmentDeleted, &young, young)
			// Old, but an agent has just uploaded the same content, whose
			// attachment is not recorded yet.
			busyID := w.attach(t, "busy.png", busyKey, models.AttachmentStored, &old, old)
			// Never stored: nothing to expire.
			pendingID := w.attach(t, "pending.jpg", "", models.AttachmentPending, nil, old)
			allKeys := []string{oldKey, youngKey, sharedKey, legacyKey, leftKey, adminKey, busyKey}

			var ts testsuite.WorkflowTestSuite
			env := ts.NewTestActivityEnvironment()
			acts := &activities.Activities{DB: w.db, Media: w.store}
			env.RegisterActivity(acts)

			off := prune(t, env, acts, activities.PruneInput{AgentEventsBefore: w.now, BatchSize: 2})
			assert.Equal(t, activities.PruneResult{}, off, "RETENTION_MEDIA off expires nothing")
			for _, key := range allKeys {
				assert.True(t, w.stored(key), "off keeps every file")
			}
			assert.Equal(t, models.AttachmentStored, w.row(t, oldID).Status)

			in := activities.PruneInput{MediaBefore: w.now.Add(-90 * 24 * time.Hour), BatchSize: 2}
			res := prune(t, env, acts, in)
			assert.Equal(t, activities.PruneResult{MediaExpired: 4, MediaFiles: 4}, res,
				"old, shared-old, busy and legacy expire; old, legacy, left and admin files go")

			for _, id := range []uint64{oldID, sharedOld, legacyID, leftID} {
				att := w.row(t, id)
				assert.Equal(t, models.AttachmentExpired, att.Status, att.Filename)
				assert.NotNil(t, att.ReleasedAt, att.Filename)
			}
			expired := w.row(t, oldID)
			require.NotNil(t, expired.DeletedAt, "the row says when")
			assert.WithinDuration(t, time.Now(), *expired.DeletedAt, time.Minute)
			assert.Equal(t, "old.jpg", expired.Filename, "the row keeps what the file was")
			assert.Equal(t, models.AttachmentDeleted, w.row(t, adminID).Status, "an admin's deletion stays one")
			for _, id := range []uint64{youngID, sharedYoung} {
				att := w.row(t, id)
				assert.Equal(t, models.AttachmentStored, att.Status, att.Filename)
				assert.Nil(t, att.DeletedAt)
			}
			busy := w.row(t, busyID)
			assert.Equal(t, models.AttachmentExpired, busy.Status)
			assert.Nil(t, busy.ReleasedAt, "released by a later run")
			assert.Equal(t, models.AttachmentPending, w.row(t, pendingID).Status)
			for _, key := range []string{oldKey, legacyKey, leftKey, adminKey} {
				assert.False(t, w.stored(key), "deleted from disk")
			}
			assert.True(t, w.stored(youngKey), "a young file stays")
			assert.True(t, w.stored(sharedKey), "a file a young attachment also uses stays")
			assert.True(t, w.stored(busyKey), "a file stored again within the grace stays")
			var n int64
			require.NoError(t, w.db.Model(&models.Message{}).Count(&n).Error)
			assert.EqualValues(t, 1, n, "the message stays")

			assert.Equal(t, activities.PruneResult{}, prune(t, env, acts, in), "a second run deletes nothing more")

			// Past the grace, and once the young attachments expire too, the
			// rest goes.
			w.age(t, busyKey, w.now.Add(-activities.MediaPutGrace-time.Minute))
			res = prune(t, env, acts, activities.PruneInput{MediaBefore: w.now, BatchSize: 2})
			assert.Equal(t, activities.PruneResult{MediaExpired: 2, MediaFiles: 3}, res)
			for _, key := range allKeys {
				assert.False(t, w.stored(key))
			}
			assert.NotNil(t, w.row(t, busyID).ReleasedAt)

			// A retried attempt resumes from its last heartbeat's counts.
			retry := ts.NewTestActivityEnvironment()
			retry.RegisterActivity(acts)
			retry.SetHeartbeatDetails(activities.PruneResult{MediaExpired: 7, MediaFiles: 5})
			assert.Equal(t, activities.PruneResult{MediaExpired: 7, MediaFiles: 5}, prune(t, retry, acts, in))

			// A worker without a media store refuses, rather than expire
			// rows whose bytes it cannot delete.
			bare := &activities.Activities{DB: w.db}
			benv := ts.NewTestActivityEnvironment()
			benv.RegisterActivity(bare)
			_, err := benv.ExecuteActivity(bare.Prune, in)
			var appErr *temporal.ApplicationError
			require.ErrorAs(t, err, &appErr)
			assert.Equal(t, activities.ErrTypeBadInput, appErr.Type())
			assert.True(t, appErr.NonRetryable())
		})
	}
}

// ReleaseMedia keeps bytes any attachment still holding its file uses,
// whatever its age, and deletes them once none does.
func TestReleaseMedia(t *testing.T) {
	w := newMediaWorld(t, models.SQLite)
	ctx := context.Background()
	key := w.put(t, "shared", w.now)
	w.attach(t, "a.jpg", key, models.AttachmentDeleted, &w.now, w.now)
	b := w.attach(t, "b.jpg", key, models.AttachmentStored, &w.now, w.now)
	removed, err := activities.ReleaseMedia(ctx, w.db, w.store, key)
	require.NoError(t, err)
	assert.False(t, removed)
	assert.True(t, w.stored(key), "b still uses it")
	require.NoError(t, w.db.Model(&models.Attachment{}).Where("id = ?", b).Update("status", models.AttachmentExpired).Error)
	removed, err = activities.ReleaseMedia(ctx, w.db, w.store, key)
	require.NoError(t, err)
	assert.True(t, removed)
	assert.False(t, w.stored(key))
	removed, err = activities.ReleaseMedia(ctx, w.db, w.store, key)
	require.NoError(t, err)
	assert.False(t, removed, "repeating it removes nothing")
	removed, err = activities.ReleaseMedia(ctx, w.db, w.store, "")
	require.NoError(t, err)
	assert.False(t, removed)
}
