package api

import (
	"errors"
	"regexp"
	"strings"

	"github.com/cbroglie/mustache"

	"github.com/xcally-connector/connector/activities"
	"github.com/xcally-connector/connector/internal/ptr"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
	"github.com/xcally-connector/connector/sinchsetup"
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
	var he *sinch.HostError
	if err := sinch.CheckEndpoints(ptr.Value(r.BaseURL), ptr.Value(r.AuthURL)); errors.As(err, &he) {
		return fieldError(he.Field, "%v", he.Err)
	}
	return nil
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

// generatedSecret makes the webhook secret a request asks for with
// generateWebhookSecret and puts it in the request, so it is sealed like a
// given one; "" when none was asked for.
func (r *AccountRequest) generatedSecret() (string, error) {
	if r.GenerateWebhookSecret == nil || !*r.GenerateWebhookSecret {
		return "", nil
	}
	secret, err := sinchsetup.NewSecret()
	if err != nil {
		return "", err
	}
	r.WebhookSecret = &secret
	return secret, nil
}
