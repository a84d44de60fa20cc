package logctx

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Redacted replaces a secret value in debug logs.
const Redacted = "[REDACTED]"

// sensitiveWords mark a header or JSON key whose value is a credential.
var sensitiveWords = []string{"secret", "signature", "token", "password", "passwd", "authorization", "credential", "cookie", "apikey", "api_key", "api-key"}

// sensitive reports whether a header or JSON key names a credential:
// secrets, signatures, authorization, tokens, passwords, cookies and keys
// (a name ending in "key"; key_id and similar identifiers are kept).
func sensitive(name string) bool {
	n := strings.ToLower(name)
	if strings.HasSuffix(n, "key") {
		return true
	}
	for _, w := range sensitiveWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// RedactHeaders returns the headers as name → value (values joined by ", ")
// with credentials replaced by Redacted.
func RedactHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for name, vs := range h {
		if sensitive(name) {
			out[name] = Redacted
			continue
		}
		out[name] = strings.Join(vs, ", ")
	}
	return out
}

// RedactJSON returns a JSON body with the values of credential keys
// replaced by Redacted and the query strings of URLs (media URLs carry
// their access tokens there) cut off. A body that is not JSON is not shown,
// only its size: it could hold anything.
func RedactJSON(body []byte) string {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return "[not JSON: " + itoa(len(body)) + " bytes]"
	}
	out, err := json.Marshal(redactValue(v))
	if err != nil {
		return "[unprintable JSON]"
	}
	return string(out)
}

func redactValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if sensitive(k) {
				t[k] = Redacted
				continue
			}
			t[k] = redactValue(t[k])
		}
		return t
	case []any:
		for i := range t {
			t[i] = redactValue(t[i])
		}
		return t
	case string:
		if (strings.HasPrefix(t, "http://") || strings.HasPrefix(t, "https://")) && strings.Contains(t, "?") {
			base, _, _ := strings.Cut(t, "?")
			return base + "?" + Redacted
		}
		return t
	default:
		return v
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
