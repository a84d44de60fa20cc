package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/internal/ptr"
	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
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
