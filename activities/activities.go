// Package activities holds every side effect of the connector's workflows:
// database writes, Sinch calls, media fetches. Workflows reference the methods
// of *Activities by value; the worker package builds the one instance and
// registers it. Errors are classified here, once (see errors.go).
//
// Activities do not decide: what happens next (route, retry, give up,
// close) is the workflow's choice, made from what an activity returns.
// They import no workflow code and no HTTP layer; a few functions are
// exported for the code that must write outside an activity (inbound's
// store-if-open, the API's attachment retry) so each write has one owner.
package activities

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/internal/media"
	"github.com/xcally-connector/connector/internal/metrics"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
)

// Activities carries the dependencies of every activity.
type Activities struct {
	DB      *gorm.DB
	Secrets *secretbox.Box
	Logger  *slog.Logger
	// Identity names this worker process in results (host and pid).
	Identity string
	// Tokens caches Sinch OAuth2 tokens for every account's client; HTTP
	// sends Sinch requests (http.DefaultClient when nil).
	Tokens *sinch.TokenCache
	HTTP   *http.Client
	// DefaultSendRate is the messages:send rate per Sinch app of accounts
	// without their own (DefaultSendRate when 0); MaxRateWait is how long
	// one send waits for its slot before it is retried later.
	DefaultSendRate float64
	MaxRateWait     time.Duration
	// Inbound hands reconciled inbound messages to their conversations.
	Inbound InboundSink
	// Media stores attachments (outside Temporal: only keys travel in
	// payloads); Fetcher downloads customers' files, SSRF-safe;
	// MediaSigner signs the URLs Sinch fetches agents' files from, valid
	// for MediaURLTTL (DefaultMediaURLTTL when 0). MediaMaxBytes is the
	// connector's own size limit (DefaultMediaMaxBytes when 0).
	Media         media.Store
	Fetcher       *media.Fetcher
	MediaSigner   *media.Signer
	MediaURLTTL   time.Duration
	MediaMaxBytes int64
	// Metrics records sends, queue waits, media and migrations (nil:
	// nothing is recorded).
	Metrics *metrics.Metrics
	// AllowCustomURLs lets accounts' credentials go to baseUrl/authUrl
	// hosts other than Sinch's own (SINCH_ALLOW_CUSTOM_URLS; dev's
	// emulator). Without it an account that names another host (created
	// while it was allowed) fails with a configuration error instead.
	AllowCustomURLs bool
}

// CheckDatabaseInput asks the worker to check its own database.
type CheckDatabaseInput struct{}

// CheckDatabaseResult is what the worker saw of its database.
type CheckDatabaseResult struct {
	Engine string
	// SchemaVersion is the newest applied migration; ExpectedSchema the
	// newest this worker binary knows.
	SchemaVersion  string
	ExpectedSchema string
	Latency        time.Duration
	WorkerIdentity string
	CheckedAt      time.Time
}

// CheckDatabase pings the worker's database and reads its schema version. A
// schema older than the binary is a permanent error (run `connector migrate`).
func (a *Activities) CheckDatabase(ctx context.Context, _ CheckDatabaseInput) (CheckDatabaseResult, error) {
	start := time.Now()
	if err := models.Ping(ctx, a.DB); err != nil {
		return CheckDatabaseResult{}, fmt.Errorf("ping database: %w", err)
	}
	version, err := models.SchemaVersion(a.DB.WithContext(ctx))
	if err != nil {
		return CheckDatabaseResult{}, fmt.Errorf("read schema version: %w", err)
	}
	res := CheckDatabaseResult{
		Engine:         a.DB.Dialector.Name(),
		SchemaVersion:  version,
		ExpectedSchema: models.LatestMigration(),
		Latency:        time.Since(start),
		WorkerIdentity: a.Identity,
		CheckedAt:      time.Now().UTC(),
	}
	if version < res.ExpectedSchema {
		return res, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("database schema %q is older than this worker's %q: run `connector migrate`", version, res.ExpectedSchema),
			ErrTypeSchemaOutdated, nil)
	}
	return res, nil
}
