package sinch

import (
	"fmt"
	"net/url"
	"strings"
)

// Sinch's own hosts: the regional Conversation API origins
// ({eu,us,br}.conversation.api.sinch.com) and the OAuth2 token service
// (auth.sinch.com, which serves every region, and regional ones such as
// eu.auth.sinch.com). An account's key secret is sent to its auth URL, so
// only these are accepted unless custom URLs are allowed (the emulator).
const (
	conversationHostSuffix = ".conversation.api.sinch.com"
	authHost               = "auth.sinch.com"
)

// HostError is an account endpoint outside Sinch's hosts; Field is the
// account field that names it (baseUrl or authUrl).
type HostError struct {
	Field string
	Err   error
}

func (e *HostError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *HostError) Unwrap() error { return e.Err }

// CheckEndpoints checks an account's baseUrl and authUrl ("" is the
// region's default, always fine) with CheckBaseURL and CheckAuthURL; the
// error is a *HostError naming the field. The API checks an account when
// it is saved, the worker again before it sends the account's key secret.
func CheckEndpoints(baseURL, authURL string) error {
	if baseURL != "" {
		if err := CheckBaseURL(baseURL); err != nil {
			return &HostError{Field: "baseUrl", Err: err}
		}
	}
	if authURL != "" {
		if err := CheckAuthURL(authURL); err != nil {
			return &HostError{Field: "authUrl", Err: err}
		}
	}
	return nil
}

// CheckBaseURL accepts an https origin on a regional Conversation API host.
func CheckBaseURL(raw string) error {
	return checkSinchURL(raw, func(host string) bool {
		label, ok := strings.CutSuffix(host, conversationHostSuffix)
		return ok && isLabel(label)
	}, "a regional Conversation API origin such as https://eu.conversation.api.sinch.com")
}

// CheckAuthURL accepts an https URL on Sinch's OAuth2 token host.
func CheckAuthURL(raw string) error {
	return checkSinchURL(raw, func(host string) bool {
		if host == authHost {
			return true
		}
		label, ok := strings.CutSuffix(host, "."+authHost)
		return ok && isLabel(label)
	}, "Sinch's token endpoint such as "+DefaultAuthURL)
}

func checkSinchURL(raw string, hostOK func(string) bool, want string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Host == "" {
		return fmt.Errorf("want %s, got %q", want, raw)
	}
	if p := u.Port(); p != "" && p != "443" {
		return fmt.Errorf("want %s on port 443, got %q", want, raw)
	}
	if !hostOK(strings.ToLower(u.Hostname())) {
		return fmt.Errorf("%q is not a Sinch host: want %s (SINCH_ALLOW_CUSTOM_URLS=true allows other hosts, e.g. an emulator)", u.Hostname(), want)
	}
	return nil
}

// isLabel is one DNS label of letters, digits and hyphens.
func isLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}
