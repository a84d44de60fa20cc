package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CodecKey is one id:key pair of PII_CODEC_KEYS or SECRET_KEYS.
type CodecKey struct {
	ID  string
	Key []byte
}

// LegacySecretKeyID is the id the single key of SECRET_KEY (and dev's
// generated secret.key) has: SECRET_KEY=x is SECRET_KEYS=k0:x, so a
// rotation starts from SECRET_KEYS=k1:<new>,k0:x and values sealed under
// x stay readable.
const LegacySecretKeyID = "k0"

// secretKeysHelp is how to write SECRET_KEYS, for error messages.
const secretKeysHelp = "id:key pairs, the current key first, each key 32 random bytes as 64 hex characters or base64, e.g. k1:$(openssl rand -hex 32)"

// loadSecrets is Load's last step: the secrets, keys and tokens
// (SECRET_KEY, SECRET_KEYS, PII_HASH_KEY_ID, PII_CODEC_KEYS, CODEC_TOKEN,
// CODEC_CORS_ORIGINS, PII_HASH_IDENTITIES), read through Load's get (value
// or default) and getenv. The first unparsable value is an *Error naming
// its variable.
func (c *Config) loadSecrets(get func(name, def string) string, getenv func(string) string) error {
	var err error
	if raw := strings.TrimSpace(getenv("SECRET_KEY")); raw != "" {
		if c.SecretKey, err = ParseSecretKey(raw); err != nil {
			return &Error{"SECRET_KEY", err.Error()}
		}
	}
	if raw := strings.TrimSpace(getenv("SECRET_KEYS")); raw != "" {
		if c.SecretKey != nil {
			return &Error{"SECRET_KEYS", "SECRET_KEY is set too: keep one of them (SECRET_KEY=x is SECRET_KEYS=" + LegacySecretKeyID + ":x; SECRET_KEYS lets keys rotate)"}
		}
		if c.SecretKeys, err = ParseCodecKeys(raw); err != nil {
			return &Error{"SECRET_KEYS", err.Error()}
		}
	}
	c.HashKeyID = strings.TrimSpace(getenv("PII_HASH_KEY_ID"))
	if raw := strings.TrimSpace(getenv("PII_CODEC_KEYS")); raw != "" {
		if c.CodecKeys, err = ParseCodecKeys(raw); err != nil {
			return &Error{"PII_CODEC_KEYS", err.Error()}
		}
	}
	if c.CodecToken != "" && len(c.CodecToken) < minAdminTokenLen {
		return &Error{"CODEC_TOKEN", fmt.Sprintf("at least %d characters (e.g. `openssl rand -hex 24`)", minAdminTokenLen)}
	}
	if c.CodecCORSOrigins, err = parseOrigins(getenv("CODEC_CORS_ORIGINS")); err != nil {
		return &Error{"CODEC_CORS_ORIGINS", err.Error()}
	}
	hash := get("PII_HASH_IDENTITIES", "false")
	if c.HashIdentities, err = strconv.ParseBool(hash); err != nil {
		return &Error{"PII_HASH_IDENTITIES", fmt.Sprintf("want true or false, got %q", hash)}
	}
	return nil
}

// ensureDevSecrets generates ADMIN_TOKEN and SECRET_KEY for dev when unset and
// persists them under DataDir.
func (c *Config) ensureDevSecrets() error {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return &Error{"DATA_DIR", err.Error()}
	}
	if c.AdminToken == "" {
		path := filepath.Join(c.DataDir, "admin.token")
		tok, err := loadOrCreate(path, func() (string, error) { return randomHex(24) })
		if err != nil {
			return &Error{"ADMIN_TOKEN", "cannot generate a dev token: " + err.Error()}
		}
		c.AdminToken = tok
		c.Generated["ADMIN_TOKEN"] = path
	}
	if len(c.SecretKeyRing()) == 0 {
		path := filepath.Join(c.DataDir, "secret.key")
		raw, err := loadOrCreate(path, func() (string, error) { return randomHex(32) })
		if err != nil {
			return &Error{"SECRET_KEY", "cannot generate a dev key: " + err.Error()}
		}
		if c.SecretKey, err = ParseSecretKey(raw); err != nil {
			return &Error{"SECRET_KEY", fmt.Sprintf("%s: %v", path, err)}
		}
		c.Generated["SECRET_KEY"] = path
	}
	if len(c.CodecKeys) == 0 {
		path := filepath.Join(c.DataDir, "pii_codec.keys")
		raw, err := loadOrCreate(path, func() (string, error) {
			k, err := randomHex(32)
			return "dev1:" + k, err
		})
		if err != nil {
			return &Error{"PII_CODEC_KEYS", "cannot generate a dev key: " + err.Error()}
		}
		if c.CodecKeys, err = ParseCodecKeys(raw); err != nil {
			return &Error{"PII_CODEC_KEYS", fmt.Sprintf("%s: %v", path, err)}
		}
		c.Generated["PII_CODEC_KEYS"] = path
	}
	if c.CodecToken == "" {
		path := filepath.Join(c.DataDir, "codec.token")
		tok, err := loadOrCreate(path, func() (string, error) { return randomHex(24) })
		if err != nil {
			return &Error{"CODEC_TOKEN", "cannot generate a dev token: " + err.Error()}
		}
		c.CodecToken = tok
		c.Generated["CODEC_TOKEN"] = path
	}
	return nil
}

// SecretKeyRing is the keys of SECRET_KEYS, or SECRET_KEY as the one key
// LegacySecretKeyID; nil when neither is set. The first one seals.
func (c *Config) SecretKeyRing() []CodecKey {
	if len(c.SecretKeys) > 0 {
		return c.SecretKeys
	}
	if c.SecretKey != nil {
		return []CodecKey{{ID: LegacySecretKeyID, Key: c.SecretKey}}
	}
	return nil
}

// IdentityKey is the key of SecretKeyRing that PII_HASH_IDENTITIES derives
// the identity hash from: the one PII_HASH_KEY_ID names, or the only key.
// The hash is part of running conversations' workflow ids, so it must not
// follow the current key through a rotation: with several keys the id is
// required, and an id that names no key is an error.
func (c *Config) IdentityKey() (CodecKey, error) {
	ring := c.SecretKeyRing()
	if len(ring) == 0 {
		return CodecKey{}, &Error{"SECRET_KEYS", "required: the identity hash (PII_HASH_IDENTITIES) is derived from one of its keys"}
	}
	if c.HashKeyID == "" {
		if len(ring) > 1 {
			return CodecKey{}, &Error{"PII_HASH_KEY_ID", fmt.Sprintf("required with PII_HASH_IDENTITIES=true and %d keys in SECRET_KEYS: name the key the identity hashes were made with (%s if it was SECRET_KEY). A hash from another key gives other workflow ids, so messages would not reach running conversations", len(ring), LegacySecretKeyID)}
		}
		return ring[0], nil
	}
	ids := make([]string, len(ring))
	for i, k := range ring {
		if k.ID == c.HashKeyID {
			return k, nil
		}
		ids[i] = k.ID
	}
	return CodecKey{}, &Error{"PII_HASH_KEY_ID", fmt.Sprintf("%q is not a key of SECRET_KEYS (%s): keep the key the identity hashes were made with in SECRET_KEYS, even after a rotation; a hash from another key gives other workflow ids", c.HashKeyID, strings.Join(ids, ", "))}
}

// ParseCodecKeys reads PII_CODEC_KEYS and SECRET_KEYS: comma-separated
// id:key pairs, the current (encrypting) key first, then the old ones that
// still decrypt.
// Each key is 32 bytes as 64 hex characters or base64.
func ParseCodecKeys(raw string) ([]CodecKey, error) {
	var keys []CodecKey
	seen := map[string]bool{}
	for i, item := range strings.Split(raw, ",") {
		item = strings.TrimSpace(item)
		id, key, ok := strings.Cut(item, ":")
		id, key = strings.TrimSpace(id), strings.TrimSpace(key)
		if !ok || id == "" || key == "" {
			return nil, fmt.Errorf("item %d: want id:key (e.g. k2:<64 hex>,k1:<64 hex>, the current key first)", i+1)
		}
		if !codecKeyID(id) {
			return nil, fmt.Errorf("key id %q: want 1 to 64 letters, digits, '.', '_' or '-'", id)
		}
		if seen[id] {
			return nil, fmt.Errorf("key id %q is given twice", id)
		}
		seen[id] = true
		b, err := ParseSecretKey(key)
		if err != nil {
			return nil, fmt.Errorf("key %q: %v", id, err)
		}
		keys = append(keys, CodecKey{ID: id, Key: b})
	}
	return keys, nil
}

// FormatCodecKeys writes keys as PII_CODEC_KEYS and SECRET_KEYS read them
// (hex keys), for
// handing a running configuration to another process.
func FormatCodecKeys(keys []CodecKey) string {
	items := make([]string, len(keys))
	for i, k := range keys {
		items[i] = k.ID + ":" + hex.EncodeToString(k.Key)
	}
	return strings.Join(items, ",")
}

func codecKeyID(id string) bool {
	if len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// parseOrigins reads a comma-separated list of browser origins such as
// https://temporal-ui.example.com.
func parseOrigins(raw string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(raw, ",") {
		item = strings.TrimRight(strings.TrimSpace(item), "/")
		if item == "" {
			continue
		}
		u, err := url.Parse(item)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("want origins such as https://temporal-ui.example.com (scheme and host, no path; no *), got %q", item)
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out, nil
}

func loadOrCreate(path string, gen func() (string, error)) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	v, err := gen()
	if err != nil {
		return "", err
	}
	return v, os.WriteFile(path, []byte(v+"\n"), 0o600)
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// ParseSecretKey accepts 32 bytes written as 64 hex characters or as base64
// (standard or URL alphabet, padded or not).
func ParseSecretKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("want exactly 32 bytes as 64 hex characters or base64 (e.g. `openssl rand -hex 32`)")
}
