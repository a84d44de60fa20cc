package activities

import (
	"errors"
	"fmt"

	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
)

// sinchClient builds the Sinch client of an account.
func (a *Activities) sinchClient(acc models.Account) (*sinch.Client, error) {
	if a.Tokens == nil {
		return nil, errors.New("the worker has no Sinch token cache")
	}
	if err := a.checkSinchHosts(acc); err != nil {
		return nil, err
	}
	secret := ""
	if len(acc.KeySecretEnc) > 0 {
		s, err := a.Secrets.Open(acc.KeySecretEnc, secretbox.AccountAAD(acc.ID, "key_secret"))
		if err != nil {
			return nil, fmt.Errorf("decrypt the key secret of account %d: %w", acc.ID, err)
		}
		secret = s
	}
	return sinch.NewClient(sinch.ClientConfig{
		Region: string(acc.Region), BaseURL: acc.BaseURL, AuthURL: acc.AuthURL,
		ProjectID: acc.ProjectID, AppID: acc.AppID, KeyID: acc.KeyID, KeySecret: secret,
	}, a.Tokens, a.HTTP)
}

// checkSinchHosts refuses to send an account's key secret or messages to
// a host that is not Sinch's, unless custom URLs are allowed: the API
// checks this when an account is saved, and the worker again before using
// one saved while they were allowed.
func (a *Activities) checkSinchHosts(acc models.Account) error {
	if a.AllowCustomURLs {
		return nil
	}
	if err := sinch.CheckEndpoints(acc.BaseURL, acc.AuthURL); err != nil {
		return fmt.Errorf("account %d %w", acc.ID, err)
	}
	return nil
}
