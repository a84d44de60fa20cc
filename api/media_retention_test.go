package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

// retentionAPI is an API with a media store, a signer and one message
// whose attachments are added per test.
type retentionAPI struct {
	t      *testing.T
	e      *echo.Echo
	db     *gorm.DB
	store  *media.FS
	signer *media.Signer
	msg    models.Message
}

func newRetentionAPI(t *testing.T, engine models.Engine) *retentionAPI {
	t.Helper()
	db := testdb.Open(t, engine)
	store, err := media.NewFS(t.TempDir(), 0)
	require.NoError(t, err)
	env := &retentionAPI{t: t, db: db, store: store, signer: media.NewSigner(bytes.Repeat([]byte{5}, 32))}
	env.e = api.New(api.Deps{DB: db, Temporal: &fakeTemporal{}, AdminToken: adminToken, TaskQueue: "q",
		Media: store, MediaSigner: env.signer})
	acc := models.Account{Name: "Acme", Key: "acme", PublicURL: "https://motion.example.com", Type: models.AccountTypeSinchV2,
		Region: models.RegionEU, ProjectID: "p", AppID: "app", KeyID: "k", Phone: "+390212345678", Channels: "WHATSAPP"}
	require.NoError(t, db.Create(&acc).Error)
	c := models.Contact{AccountID: acc.ID, Channel: models.ChannelWhatsApp, Identity: "393331112222"}
	require.NoError(t, db.Create(&c).Error)
	in := models.Interaction{Key: "wf#1", WorkflowID: "wf", AccountID: acc.ID, ContactID: c.ID, Channel: models.ChannelWhatsApp,
		Status: models.InteractionQueued, OpenedAt: time.Now()}
	require.NoError(t, db.Create(&in).Error)
	id := "01HRETENTION"
	env.msg = models.Message{AccountID: acc.ID, InteractionID: in.ID, ContactID: c.ID, Direction: models.DirectionInbound,
		Kind: "media", Status: models.StatusReceived, ProviderMessageID: &id}
	require.NoError(t, db.Create(&env.msg).Error)
	return env
}

// attach stores content and records a stored attachment of it, fetched
// (and its file stored) at.
func (env *retentionAPI) attach(name, content string, dir models.Direction, at time.Time) (uint64, string) {
	env.t.Helper()
	obj, err := env.store.Put(context.Background(), strings.NewReader(content), 1<<20)
	require.NoError(env.t, err)
	require.NoError(env.t, os.Chtimes(filepath.Join(env.store.Dir(), obj.Key[0:2], obj.Key[2:4], obj.Key), at, at))
	att := models.Attachment{MessageID: env.msg.ID, AccountID: env.msg.AccountID, SourceURL: "https://media.example.com/" + name,
		Direction: dir, Kind: "image", Format: "png", ContentType: "image/png", Filename: name, Size: obj.Size, SHA256: obj.SHA256,
		StoragePath: obj.Key, Status: models.AttachmentStored, FetchedAt: &at, CreatedAt: at}
	require.NoError(env.t, env.db.Create(&att).Error)
	return att.ID, obj.Key
}

// links are an attachment's two URLs: the agents' and Sinch's signed one.
func (env *retentionAPI) links(id uint64) []string {
	return []string{fmt.Sprintf("/api/attachments/%d", id), "/api/media/" + env.signer.Mint(id, time.Now().Add(time.Hour)) + ".png"}
}

func (env *retentionAPI) get(path string) (int, []byte) {
	env.t.Helper()
	rec := do(env.e, http.MethodGet, path, "", map[string]string{"Authorization": "Bearer " + adminToken})
	return rec.Code, rec.Body.Bytes()
}

func (env *retentionAPI) onDisk(key string) bool {
	f, _, err := env.store.Open(key)
	if err != nil {
		return false
	}
	_ = f.Close()
	return true
}

// prune runs the retention activity with a media cutoff.
func (env *retentionAPI) prune(before time.Time) activities.PruneResult {
	env.t.Helper()
	var ts testsuite.WorkflowTestSuite
	aenv := ts.NewTestActivityEnvironment()
	acts := &activities.Activities{DB: env.db, Media: env.store}
	aenv.RegisterActivity(acts)
	val, err := aenv.ExecuteActivity(acts.Prune, activities.PruneInput{MediaBefore: before})
	require.NoError(env.t, err)
	var res activities.PruneResult
	require.NoError(env.t, val.Get(&res))
	return res
}

// TestMediaRetentionLinks: after the retention run an old file answers 410
// attachment_expired on both of its links, a young one is still served,
// and a file an old and a young attachment share is served for the young
// one; the expired row stays (DELETE keeps it expired, retry refuses it).
func TestMediaRetentionLinks(t *testing.T) {
	for _, engine := range testdb.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			env := newRetentionAPI(t, engine)
			old, young := time.Now().Add(-100*24*time.Hour), time.Now().Add(-2*time.Hour)
			oldID, oldKey := env.attach("old.png", "old bytes", models.DirectionOutbound, old)
			youngID, youngKey := env.attach("young.png", "young bytes", models.DirectionInbound, young)
			sharedOld, sharedKey := env.attach("shared-old.png", "shared bytes", models.DirectionInbound, old)
			sharedYoung, _ := env.attach("shared-young.png", "shared bytes", models.DirectionOutbound, young)
			for _, link := range env.links(oldID) {
				code, body := env.get(link)
				require.Equal(t, http.StatusOK, code, "before the run %s: %s", link, body)
				assert.Equal(t, "old bytes", string(body))
			}

			res := env.prune(time.Now().Add(-90 * 24 * time.Hour))
			assert.Equal(t, activities.PruneResult{MediaExpired: 2, MediaFiles: 1}, res)
			assert.False(t, env.onDisk(oldKey), "the old file is deleted from disk")

			for _, id := range []uint64{oldID, sharedOld} {
				for _, link := range env.links(id) {
					code, body := env.get(link)
					require.Equal(t, http.StatusGone, code, "%s: %s", link, body)
					var b api.ErrorBody
					require.NoError(t, json.Unmarshal(body, &b), "%s", body)
					assert.Equal(t, "attachment_expired", b.Error.Code)
					assert.Contains(t, b.Error.Message, "deleted on ")
					assert.Contains(t, b.Error.Message, "retention period (RETENTION_MEDIA)")
				}
				rec := do(env.e, http.MethodHead, env.links(id)[1], "", nil)
				assert.Equal(t, http.StatusGone, rec.Code, "HEAD of the signed link")
			}
			for id, want := range map[uint64]string{youngID: "young bytes", sharedYoung: "shared bytes"} {
				for _, link := range env.links(id) {
					code, body := env.get(link)
					require.Equal(t, http.StatusOK, code, "%s: %s", link, body)
					assert.Equal(t, want, string(body), link)
				}
			}
			assert.True(t, env.onDisk(sharedKey), "a file a young attachment uses stays")

			// The expired row stays expired; its file is not fetched again.
			rec := do(env.e, http.MethodDelete, env.links(oldID)[0], "", map[string]string{"Authorization": "Bearer " + adminToken})
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			var view api.AttachmentView
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &view))
			assert.Equal(t, "expired", view.Status)
			assert.Equal(t, "old.png", view.FileName)
			rec = do(env.e, http.MethodPost, env.links(sharedOld)[0]+"/retry", "", map[string]string{"Authorization": "Bearer " + adminToken})
			assert.Equal(t, http.StatusConflict, rec.Code)
			assert.Equal(t, "attachment_expired", errorBody(t, rec).Code)

			// An admin's deletion releases bytes through the same check: an
			// expired attachment no longer holds the shared file, so deleting
			// the young one drops it; the deleted one's signed link stays 404.
			rec = do(env.e, http.MethodDelete, env.links(sharedYoung)[0], "", map[string]string{"Authorization": "Bearer " + adminToken})
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			assert.False(t, env.onDisk(sharedKey))
			code, _ := env.get(env.links(sharedYoung)[0])
			assert.Equal(t, http.StatusGone, code)
			code, _ = env.get(env.links(sharedYoung)[1])
			assert.Equal(t, http.StatusNotFound, code)

			assert.Equal(t, activities.PruneResult{}, env.prune(time.Now().Add(-90*24*time.Hour)), "a second run deletes nothing more")
			assert.True(t, env.onDisk(youngKey))
		})
	}
}
