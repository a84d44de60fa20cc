package api

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cbroglie/mustache"
	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/ptr"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
)

// Warnings an AccountResponse may carry.
const (
	// WarningDispatchMode: the latest callback came in DISPATCH mode, in
	// which Sinch sends no contact id and agents cannot reply (Sinch's
	// processing-modes page; Motion's Sinch V2 guide).
	WarningDispatchMode = "processing mode: the Sinch app sends DISPATCH-mode callbacks, which carry no contact id; set it to CONVERSATION mode so agents can reply (Sinch Conversation API processing modes)"
	// WarningNoWebhookSecret: the webhook accepts unsigned callbacks.
	WarningNoWebhookSecret = "webhookSecret: not set, callbacks to receiveUrl are not authenticated"
	// WarningWebhookRefused: no secret and unsigned callbacks not allowed
	// (a row not written by the API): every callback is refused.
	WarningWebhookRefused = "webhookSecret: not set and allowUnsignedWebhooks is false: every callback to receiveUrl is refused; set webhookSecret (or generateWebhookSecret)"
	// WarningMetaBlocked starts the warning of a streak of Meta policy
	// failures (Motion's Sinch V2 guide: "Account blocked by Meta").
	WarningMetaBlocked = "account may be blocked by Meta"
	// WarningStatus starts the warning of an account that is not active
	// (migrated or disabled): it opens no new interactions.
	WarningStatus = "status"
)

// Limits and formats of account fields.
const (
	maxNameLen        = 255
	maxSinchIDLen     = 128
	maxDescriptionLen = 2048
	maxSecretLen      = 1024
)

var (
	accountKeyRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)
	phoneRe      = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// AccountRequest is the body of POST and PATCH /api/whatsapp/accounts. On
// POST, name, key, publicUrl, region, projectId, appId, keyId, keySecret
// and phone are required and omitted optional fields take their defaults;
// on PATCH every field is optional and only the fields present change.
// keySecret and webhookSecret are write-only: they are stored encrypted and
// never returned.
type AccountRequest struct {
	Name *string `json:"name"`
	// Key is the account's unique short identifier: letters, digits, _ and -.
	Key  *string `json:"key"`
	List *string `json:"list"`
	// PublicURL is the https origin Sinch reaches (Motion's "Proxy or
	// Motion Domain"); http is accepted only for loopback hosts.
	PublicURL *string `json:"publicUrl"`
	// Type is "sinch_v2", the default and only value.
	Type *string `json:"type"`
	// Region is eu, us or br.
	Region *string `json:"region"`
	// BaseURL and AuthURL override the region's Sinch endpoints ("" clears).
	BaseURL   *string `json:"baseUrl"`
	AuthURL   *string `json:"authUrl"`
	ProjectID *string `json:"projectId"`
	AppID     *string `json:"appId"`
	KeyID     *string `json:"keyId"`
	// KeySecret is the Sinch access key secret; it cannot be cleared.
	KeySecret *string `json:"keySecret"`
	// WebhookSecret is the secret of the Sinch webhook, at least 16
	// characters; "" clears it (only with allowUnsignedWebhooks).
	WebhookSecret *string `json:"webhookSecret"`
	// GenerateWebhookSecret makes the connector create a random secret
	// (32 bytes), returned once in the response's webhookSecret for the
	// admin to paste into the Sinch webhook; on PATCH it replaces the
	// current one.
	GenerateWebhookSecret *bool `json:"generateWebhookSecret"`
	// AllowUnsignedWebhooks accepts an account without a webhook secret:
	// its receive URL then takes unsigned callbacks (the account warns).
	// Without it, creating an account needs webhookSecret or
	// generateWebhookSecret.
	AllowUnsignedWebhooks *bool `json:"allowUnsignedWebhooks"`
	// Phone is the sender number in E.164 with its + prefix.
	Phone       *string `json:"phone"`
	Description *string `json:"description"`
	// NotificationTemplate is a mustache template; "" means the default.
	NotificationTemplate *string `json:"notificationTemplate"`
	// Channels is a non-empty subset of WHATSAPP and INSTAGRAM (default
	// ["WHATSAPP"]).
	Channels *[]string `json:"channels"`
	Debug    *bool     `json:"debug"`
	// SendRatePerSecond caps the account's sends to Sinch, shared by every
	// worker (0 or absent: SINCH_SEND_RATE, Sinch's default of 20/s).
	SendRatePerSecond *float64 `json:"sendRatePerSecond"`
}

// AccountResponse is an account as the API returns it: every setting but
// the secrets, whose presence only is reported.
type AccountResponse struct {
	ID                   uint64   `json:"id"`
	Name                 string   `json:"name"`
	Key                  string   `json:"key"`
	List                 string   `json:"list"`
	PublicURL            string   `json:"publicUrl"`
	Type                 string   `json:"type"`
	Region               string   `json:"region"`
	BaseURL              string   `json:"baseUrl"`
	AuthURL              string   `json:"authUrl"`
	ProjectID            string   `json:"projectId"`
	AppID                string   `json:"appId"`
	KeyID                string   `json:"keyId"`
	Phone                string   `json:"phone"`
	Description          string   `json:"description"`
	NotificationTemplate string   `json:"notificationTemplate"`
	Channels             []string `json:"channels"`
	Debug                bool     `json:"debug"`
	// SendRatePerSecond is the account's own send rate, 0 for the default.
	SendRatePerSecond float64 `json:"sendRatePerSecond"`
	// PolicyFailureStreak counts consecutive Meta policy failures of
	// replies (reset by a delivered one).
	PolicyFailureStreak int `json:"policyFailureStreak"`
	// ReceiveURL is the target URL to configure on the Sinch webhook.
	ReceiveURL       string `json:"receiveUrl"`
	KeySecretSet     bool   `json:"keySecretSet"`
	WebhookSecretSet bool   `json:"webhookSecretSet"`
	// AllowUnsignedWebhooks is set when the account takes unsigned
	// callbacks (no webhook secret).
	AllowUnsignedWebhooks bool `json:"allowUnsignedWebhooks"`
	// WebhookSecret is present only in the answer to a request with
	// generateWebhookSecret: the generated secret, shown this once.
	WebhookSecret string `json:"webhookSecret,omitempty"`
	// LastProcessingMode is the Sinch processing mode of the latest callback.
	LastProcessingMode string `json:"lastProcessingMode"`
	// QualityRating is the latest WhatsApp quality rating reported by Sinch.
	QualityRating string `json:"qualityRating"`
	// Status is active, migrated (moved to MigratedToAccountID: no new
	// interactions, open ones finish here) or disabled (no interactions);
	// StatusReason says why.
	Status              string  `json:"status"`
	StatusReason        string  `json:"statusReason"`
	MigratedToAccountID *uint64 `json:"migratedToAccountId,omitempty"`
	// Warnings are configuration problems to fix; never null.
	Warnings  []string  `json:"warnings"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// normalize validates the request, trims and canonicalises its values and,
// on create, checks required fields and fills in defaults.
func (r *AccountRequest) normalize(create bool) error {
	r.Name, r.Key, r.List = trimmed(r.Name), trimmed(r.Key), trimmed(r.List)
	r.PublicURL, r.Type, r.Region = trimmed(r.PublicURL), trimmed(r.Type), trimmed(r.Region)
	r.BaseURL, r.AuthURL = trimmed(r.BaseURL), trimmed(r.AuthURL)
	r.ProjectID, r.AppID, r.KeyID = trimmed(r.ProjectID), trimmed(r.AppID), trimmed(r.KeyID)
	r.Phone = trimmed(r.Phone)
	if create {
		if r.Type == nil {
			t := string(models.AccountTypeSinchV2)
			r.Type = &t
		}
		if r.Channels == nil {
			r.Channels = &[]string{string(models.ChannelWhatsApp)}
		}
		if r.KeySecret == nil || *r.KeySecret == "" {
			return fieldError("keySecret", "required")
		}
	}
	if (create && r.NotificationTemplate == nil) ||
		(r.NotificationTemplate != nil && strings.TrimSpace(*r.NotificationTemplate) == "") {
		t := activities.DefaultNotificationTemplate
		r.NotificationTemplate = &t
	}

	if err := checkRequiredIf(create, "name", r.Name, maxNameLen); err != nil {
		return err
	}
	if r.Key != nil || create {
		if r.Key == nil || *r.Key == "" {
			return fieldError("key", "required")
		}
		if !accountKeyRe.MatchString(*r.Key) {
			return fieldError("key", "want 1 to 100 letters, digits, _ or -, got %q", *r.Key)
		}
	}
	if err := checkMax("list", r.List, maxNameLen); err != nil {
		return err
	}
	if r.PublicURL != nil || create {
		if r.PublicURL == nil || *r.PublicURL == "" {
			return fieldError("publicUrl", "required")
		}
		u, err := checkURL("publicUrl", *r.PublicURL, true)
		if err != nil {
			return err
		}
		r.PublicURL = &u
	}
	if r.Type != nil {
		if err := checkOneOf("type", *r.Type, string(models.AccountTypeSinchV2)); err != nil {
			return err
		}
	}
	if r.Region != nil || create {
		if r.Region == nil {
			return fieldError("region", "required: one of eu, us, br")
		}
		if err := checkOneOf("region", *r.Region, string(models.RegionEU), string(models.RegionUS), string(models.RegionBR)); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		v    **string
	}{{"baseUrl", &r.BaseURL}, {"authUrl", &r.AuthURL}} {
		if *f.v == nil || **f.v == "" {
			continue
		}
		u, err := checkURL(f.name, **f.v, false)
		if err != nil {
			return err
		}
		*f.v = &u
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"projectId", r.ProjectID}, {"appId", r.AppID}, {"keyId", r.KeyID}} {
		if err := checkRequiredIf(create, f.name, f.v, maxSinchIDLen); err != nil {
			return err
		}
	}
	if r.KeySecret != nil {
		if *r.KeySecret == "" {
			return fieldError("keySecret", "cannot be cleared; send the new secret to replace it")
		}
		if err := checkMax("keySecret", r.KeySecret, maxSecretLen); err != nil {
			return err
		}
	}
	if err := checkMax("webhookSecret", r.WebhookSecret, maxSecretLen); err != nil {
		return err
	}
	if err := r.checkWebhookSecret(create); err != nil {
		return err
	}
	if r.Phone != nil || create {
		if r.Phone == nil || *r.Phone == "" {
			return fieldError("phone", "required")
		}
		if !phoneRe.MatchString(*r.Phone) {
			return fieldError("phone", "want E.164 with its prefix such as +393331234567, got %q", *r.Phone)
		}
	}
	if err := checkMax("description", r.Description, maxDescriptionLen); err != nil {
		return err
	}
	if r.NotificationTemplate != nil {
		if err := checkTemplate("notificationTemplate", *r.NotificationTemplate); err != nil {
			return err
		}
	}
	if r.Channels != nil {
		if err := checkChannels("channels", *r.Channels); err != nil {
			return err
		}
	}
	if r.SendRatePerSecond != nil && (*r.SendRatePerSecond < 0 || *r.SendRatePerSecond > maxSendRate) {
		return fieldError("sendRatePerSecond", "want 0 (the default) to %d messages per second, got %v", maxSendRate, *r.SendRatePerSecond)
	}
	return nil
}

// minWebhookSecretLen is the shortest webhook secret accepted: a short
// one can be guessed, and it is all that authenticates a callback.
const minWebhookSecretLen = 16

// generatedWebhookSecretBytes is the entropy of a generated secret.
const generatedWebhookSecretBytes = 32

// checkWebhookSecret applies "signed by default": an account has a webhook
// secret of at least 16 characters, or an admin explicitly allowed
// unsigned callbacks. On PATCH only what the request changes is checked
// here; the combination with the stored account is checked by
// checkSignedAfterUpdate.
func (r *AccountRequest) checkWebhookSecret(create bool) error {
	generate := r.GenerateWebhookSecret != nil && *r.GenerateWebhookSecret
	unsigned := r.AllowUnsignedWebhooks != nil && *r.AllowUnsignedWebhooks
	if generate && r.WebhookSecret != nil {
		return fieldError("generateWebhookSecret", "give either webhookSecret or generateWebhookSecret, not both")
	}
	if r.WebhookSecret != nil && *r.WebhookSecret != "" && len([]rune(*r.WebhookSecret)) < minWebhookSecretLen {
		return fieldError("webhookSecret", "at least %d characters, got %d (or generateWebhookSecret: true to have one made)", minWebhookSecretLen, len([]rune(*r.WebhookSecret)))
	}
	if create && !generate && !unsigned && (r.WebhookSecret == nil || *r.WebhookSecret == "") {
		return fieldError("webhookSecret", "required: the secret of the Sinch webhook (at least %d characters), so that only Sinch can post callbacks; or send generateWebhookSecret: true to have one made (returned once), or allowUnsignedWebhooks: true to accept unsigned callbacks (not recommended)", minWebhookSecretLen)
	}
	return nil
}

// checkSinchHosts refuses a baseUrl or authUrl outside Sinch's own hosts
// unless custom URLs are allowed: the key secret is sent to the auth URL.
func (r *AccountRequest) checkSinchHosts(allowCustom bool) error {
	if allowCustom {
		return nil
	}
	if r.BaseURL != nil && *r.BaseURL != "" {
		if err := sinch.CheckBaseURL(*r.BaseURL); err != nil {
			return fieldError("baseUrl", "%v", err)
		}
	}
	if r.AuthURL != nil && *r.AuthURL != "" {
		if err := sinch.CheckAuthURL(*r.AuthURL); err != nil {
			return fieldError("authUrl", "%v", err)
		}
	}
	return nil
}

// newWebhookSecret is a generated webhook secret: 32 random bytes,
// base64url (43 characters).
func newWebhookSecret() (string, error) {
	b := make([]byte, generatedWebhookSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// maxSendRate bounds sendRatePerSecond: Sinch's project-wide limit is
// 800 requests/s.
const maxSendRate = 800

// checkRequiredIf is checkRequired on create and, on update, for a field
// that is present (a required field cannot be blanked).
func checkRequiredIf(create bool, field string, v *string, max int) error {
	if v == nil && !create {
		return nil
	}
	return checkRequired(field, v, max)
}

// checkTemplate requires a mustache template that parses and has no
// partials: the renderer would read a partial from the worker's filesystem.
func checkTemplate(field, tpl string) error {
	t, err := mustache.ParseStringPartials(tpl, &mustache.StaticProvider{})
	if err != nil {
		return fieldError(field, "invalid mustache template: %v", err)
	}
	var walk func([]mustache.Tag) error
	walk = func(tags []mustache.Tag) error {
		for _, tag := range tags {
			if tag.Type() == mustache.Partial {
				return fieldError(field, "partials such as {{> %s}} are not supported", tag.Name())
			}
			if tag.Type() == mustache.Section || tag.Type() == mustache.InvertedSection {
				if err := walk(tag.Tags()); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(t.Tags())
}

// checkChannels requires a non-empty set of supported channels.
func checkChannels(field string, chans []string) error {
	if len(chans) == 0 {
		return fieldError(field, "want at least one of WHATSAPP, INSTAGRAM")
	}
	seen := map[string]bool{}
	for _, ch := range chans {
		if err := checkOneOf(field, ch, string(models.ChannelWhatsApp), string(models.ChannelInstagram)); err != nil {
			return err
		}
		if seen[ch] {
			return fieldError(field, "%s listed twice", ch)
		}
		seen[ch] = true
	}
	return nil
}

// model builds a new account from a normalized create request (secrets are
// sealed separately, once the id is known).
func (r *AccountRequest) model() models.Account {
	return models.Account{
		Name: ptr.Value(r.Name), Key: ptr.Value(r.Key), List: ptr.Value(r.List), PublicURL: ptr.Value(r.PublicURL),
		Type: models.AccountType(ptr.Value(r.Type)), Region: models.Region(ptr.Value(r.Region)),
		BaseURL: ptr.Value(r.BaseURL), AuthURL: ptr.Value(r.AuthURL),
		ProjectID: ptr.Value(r.ProjectID), AppID: ptr.Value(r.AppID), KeyID: ptr.Value(r.KeyID),
		Phone: ptr.Value(r.Phone), Description: ptr.Value(r.Description),
		NotificationTemplate: ptr.Value(r.NotificationTemplate),
		Channels:             strings.Join(*r.Channels, ","), Debug: r.Debug != nil && *r.Debug,
		SendRatePerSecond:     ptr.Value(r.SendRatePerSecond),
		AllowUnsignedWebhooks: r.AllowUnsignedWebhooks != nil && *r.AllowUnsignedWebhooks,
	}
}

// columns lists the non-secret columns a normalized PATCH changes.
func (r *AccountRequest) columns() map[string]any {
	cols := map[string]any{}
	for col, v := range map[string]*string{
		"name": r.Name, "key": r.Key, "list": r.List, "public_url": r.PublicURL, "type": r.Type,
		"region": r.Region, "base_url": r.BaseURL, "auth_url": r.AuthURL, "project_id": r.ProjectID,
		"app_id": r.AppID, "key_id": r.KeyID, "phone": r.Phone, "description": r.Description,
		"notification_template": r.NotificationTemplate,
	} {
		if v != nil {
			cols[col] = *v
		}
	}
	if r.Channels != nil {
		cols["channels"] = strings.Join(*r.Channels, ",")
	}
	if r.Debug != nil {
		cols["debug"] = *r.Debug
	}
	if r.SendRatePerSecond != nil {
		cols["send_rate_per_second"] = *r.SendRatePerSecond
	}
	if r.AllowUnsignedWebhooks != nil {
		cols["allow_unsigned_webhooks"] = *r.AllowUnsignedWebhooks
	}
	return cols
}

// createAccount handles POST /api/whatsapp/accounts.
func (s *Server) createAccount(c echo.Context) error {
	var req AccountRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := req.normalize(true); err != nil {
		return err
	}
	if err := req.checkSinchHosts(s.deps.SinchAllowCustomURLs); err != nil {
		return err
	}
	generated, err := req.generatedSecret()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	acc := req.model()
	// The secrets' additional data binds them to the row id, so the row is
	// created first and sealed in the same transaction.
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&acc).Error; err != nil {
			return err
		}
		if err := s.sealAccountSecrets(tx, acc.ID, req.KeySecret, req.WebhookSecret); err != nil {
			return err
		}
		return tx.Take(&acc, acc.ID).Error
	})
	if err != nil {
		return accountWriteError(err, ptr.Value(req.Key))
	}
	s.log.InfoContext(ctx, "account created", "account_id", acc.ID, "key", acc.Key, "unsigned", acc.AllowUnsignedWebhooks, "request_id", requestID(c))
	resp := toAccountResponse(acc, s.deps.PolicyWarningStreak)
	resp.WebhookSecret = generated
	return c.JSON(http.StatusCreated, resp)
}

// listAccounts handles GET /api/whatsapp/accounts.
func (s *Server) listAccounts(c echo.Context) error {
	var accs []models.Account
	if err := s.deps.DB.WithContext(c.Request().Context()).Order("id").Find(&accs).Error; err != nil {
		return err
	}
	out := make([]AccountResponse, 0, len(accs))
	for _, a := range accs {
		out = append(out, toAccountResponse(a, s.deps.PolicyWarningStreak))
	}
	return c.JSON(http.StatusOK, out)
}

// getAccount handles GET /api/whatsapp/accounts/:id.
func (s *Server) getAccount(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	acc, err := loadAccount(s.deps.DB.WithContext(c.Request().Context()), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAccountResponse(acc, s.deps.PolicyWarningStreak))
}

// updateAccount handles PATCH /api/whatsapp/accounts/:id.
func (s *Server) updateAccount(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	var req AccountRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := req.normalize(false); err != nil {
		return err
	}
	if err := req.checkSinchHosts(s.deps.SinchAllowCustomURLs); err != nil {
		return err
	}
	generated, err := req.generatedSecret()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	cols := req.columns()
	var acc models.Account
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := rowExists(tx, &models.Account{}, "account", id); err != nil {
			return err
		}
		if len(cols) > 0 {
			if err := tx.Model(&models.Account{ID: id}).Updates(cols).Error; err != nil {
				return err
			}
		}
		if err := s.sealAccountSecrets(tx, id, req.KeySecret, req.WebhookSecret); err != nil {
			return err
		}
		var err error
		if acc, err = loadAccount(tx, id); err != nil {
			return err
		}
		if len(acc.WebhookSecretEnc) == 0 && !acc.AllowUnsignedWebhooks {
			// Rolled back: the account would take no callback at all.
			return fieldError("webhookSecret", "the account would have no webhook secret and refuse every callback: set webhookSecret (at least %d characters) or generateWebhookSecret: true, or allowUnsignedWebhooks: true to accept unsigned callbacks", minWebhookSecretLen)
		}
		return nil
	})
	if err != nil {
		return accountWriteError(err, ptr.Value(req.Key))
	}
	s.log.InfoContext(ctx, "account updated", "account_id", id, "fields", changedFields(cols, req), "request_id", requestID(c))
	resp := toAccountResponse(acc, s.deps.PolicyWarningStreak)
	resp.WebhookSecret = generated
	return c.JSON(http.StatusOK, resp)
}

// deleteAccount handles DELETE /api/whatsapp/accounts/:id: a soft delete
// that also removes the account from queues and agents, so neither lists a
// deleted account. Its key becomes free for a new account.
func (s *Server) deleteAccount(c echo.Context) error {
	id, err := parseID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	err = s.deps.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Delete(&models.Account{}, id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return notFound("account", id)
		}
		if err := tx.Where("account_id = ?", id).Delete(&models.QueueAccount{}).Error; err != nil {
			return err
		}
		return tx.Where("account_id = ?", id).Delete(&models.AgentAccount{}).Error
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "account deleted", "account_id", id, "request_id", requestID(c))
	return c.NoContent(http.StatusNoContent)
}

// generatedSecret makes the webhook secret a request asks for with
// generateWebhookSecret and puts it in the request, so it is sealed like a
// given one; "" when none was asked for.
func (r *AccountRequest) generatedSecret() (string, error) {
	if r.GenerateWebhookSecret == nil || !*r.GenerateWebhookSecret {
		return "", nil
	}
	secret, err := newWebhookSecret()
	if err != nil {
		return "", err
	}
	r.WebhookSecret = &secret
	return secret, nil
}

// sealAccountSecrets stores the secrets given (nil: unchanged; "" clears
// the webhook secret) encrypted and bound to the account and column.
func (s *Server) sealAccountSecrets(tx *gorm.DB, id uint64, keySecret, webhookSecret *string) error {
	if keySecret == nil && webhookSecret == nil {
		return nil
	}
	if s.deps.Secrets == nil {
		return errors.New("no secret box configured: cannot store account secrets")
	}
	cols := map[string]any{}
	for _, f := range []struct {
		col, aad string
		v        *string
	}{{"key_secret_enc", "key_secret", keySecret}, {"webhook_secret_enc", "webhook_secret", webhookSecret}} {
		if f.v == nil {
			continue
		}
		sealed, err := s.deps.Secrets.Seal(*f.v, secretbox.AccountAAD(id, f.aad))
		if err != nil {
			return fmt.Errorf("seal %s of account %d: %w", f.aad, id, err)
		}
		cols[f.col] = sealed // nil for "": no secret
	}
	return tx.Model(&models.Account{ID: id}).Updates(cols).Error
}

// loadAccount reads a live account, or the 404 naming it.
func loadAccount(db *gorm.DB, id uint64) (models.Account, error) {
	var acc models.Account
	err := db.Take(&acc, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return acc, notFound("account", id)
	}
	return acc, err
}

// accountWriteError names the key on a unique-key violation.
func accountWriteError(err error, key string) error {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return conflict(fmt.Sprintf("key: an account with key %q already exists", key), err)
	}
	return err
}

// changedFields lists the JSON names a PATCH changed, for the audit log
// (names only: values may be secrets).
func changedFields(cols map[string]any, req AccountRequest) []string {
	out := make([]string, 0, len(cols)+2)
	for col := range cols {
		out = append(out, col)
	}
	if req.KeySecret != nil {
		out = append(out, "key_secret")
	}
	if req.WebhookSecret != nil {
		out = append(out, "webhook_secret")
	}
	slices.Sort(out)
	return out
}

// toAccountResponse is the API view of an account; policyStreak is the
// POLICY_WARNING_STREAK threshold.
func toAccountResponse(a models.Account, policyStreak int) AccountResponse {
	chans := []string{}
	for _, ch := range strings.Split(a.Channels, ",") {
		if ch != "" {
			chans = append(chans, ch)
		}
	}
	warnings := []string{}
	if a.LastProcessingMode == models.ProcessingDispatch {
		warnings = append(warnings, WarningDispatchMode)
	}
	switch {
	case len(a.WebhookSecretEnc) > 0:
	case a.AllowUnsignedWebhooks:
		warnings = append(warnings, WarningNoWebhookSecret)
	default:
		warnings = append(warnings, WarningWebhookRefused)
	}
	if a.PolicyFailureStreak >= policyStreak {
		at := ""
		if a.PolicyFailureAt != nil {
			at = " at " + a.PolicyFailureAt.UTC().Format(time.RFC3339)
		}
		warnings = append(warnings, fmt.Sprintf("%s: %d replies in a row failed with Meta policy codes (last %s%s); review Meta's Business Policy and contact your Meta account manager",
			WarningMetaBlocked, a.PolicyFailureStreak, a.PolicyFailureLastCode, at))
	}
	if a.MediaWarning != "" {
		at := ""
		if a.MediaWarningAt != nil {
			at = " (since " + a.MediaWarningAt.UTC().Format(time.RFC3339) + ")"
		}
		warnings = append(warnings, a.MediaWarning+at)
	}
	status := a.Status
	if status == "" {
		status = models.AccountActive
	}
	if w := statusWarning(status, a.StatusReason, a.MigratedToAccountID); w != "" {
		warnings = append(warnings, w)
	}
	return AccountResponse{
		ID: a.ID, Name: a.Name, Key: a.Key, List: a.List, PublicURL: a.PublicURL,
		Type: string(a.Type), Region: string(a.Region), BaseURL: a.BaseURL, AuthURL: a.AuthURL,
		ProjectID: a.ProjectID, AppID: a.AppID, KeyID: a.KeyID, Phone: a.Phone,
		Description: a.Description, NotificationTemplate: a.NotificationTemplate,
		Channels: chans, Debug: a.Debug, SendRatePerSecond: a.SendRatePerSecond, PolicyFailureStreak: a.PolicyFailureStreak,
		ReceiveURL:       activities.ReceiveURL(a.PublicURL, a.ID),
		KeySecretSet:     len(a.KeySecretEnc) > 0,
		WebhookSecretSet: len(a.WebhookSecretEnc) > 0, AllowUnsignedWebhooks: a.AllowUnsignedWebhooks,
		LastProcessingMode: string(a.LastProcessingMode), QualityRating: a.QualityRating,
		Status: string(status), StatusReason: a.StatusReason, MigratedToAccountID: a.MigratedToAccountID,
		Warnings:  warnings,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

// statusWarning is the warning of an account that is not active, e.g.
// "status: migrated to account 9 (Acme V2) by migration 3: this account
// opens no new interactions; open ones finish here" (a migrated account's
// reason says where it went) or "status: disabled (migration 4 was
// cancelled by the admin): this account opens no interactions"; "" for an
// active one.
func statusWarning(status models.AccountStatus, reason string, target *uint64) string {
	var what, effect string
	switch status {
	case models.AccountActive:
		return ""
	case models.AccountMigrated:
		what, effect = "migrated", "this account opens no new interactions; open ones finish here"
		if target != nil {
			what += fmt.Sprintf(" to account %d", *target)
		}
	case models.AccountDisabled:
		what, effect = "disabled", "this account opens no interactions"
	default:
		what, effect = string(status), "this account opens no new interactions"
	}
	switch reason = strings.TrimSpace(reason); {
	case reason != "" && status == models.AccountMigrated:
		what = reason // "migrated to account 9 (…) by migration 3"
	case reason != "":
		what += " (" + reason + ")"
	}
	return fmt.Sprintf("%s: %s: %s", WarningStatus, what, effect)
}

// rowExists is the 404 naming kind when no live row of model has id.
func rowExists(db *gorm.DB, model any, kind string, id uint64) error {
	var n int64
	if err := db.Model(model).Where("id = ?", id).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return notFound(kind, id)
	}
	return nil
}
