package activities

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/xcally-connector/connector/internal/secretbox"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/sinch"
)

// VerifyCredentialsResult is where the new key obtained a token.
type VerifyCredentialsResult struct {
	AuthURL string
	KeyID   string
}

// VerifyMigrationCredentials checks the new account's Sinch key by
// fetching an OAuth2 token with it (step 2). A refusal (401, or any
// permanent token error) is a non-retryable ErrTypeMigrationCredentials
// whose message says how to correct the key; network trouble and 5xx are
// retried by the policy.
func (a *Activities) VerifyMigrationCredentials(ctx context.Context, in MigrationAccountInput) (VerifyCredentialsResult, error) {
	var acc models.Account
	if err := a.DB.WithContext(ctx).Take(&acc, in.AccountID).Error; err != nil {
		if isNotFound(err) {
			return VerifyCredentialsResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the new account %d was deleted", in.AccountID), ErrTypeMigrationConflict, err)
		}
		return VerifyCredentialsResult{}, err
	}
	if a.Tokens == nil || a.Secrets == nil {
		return VerifyCredentialsResult{}, temporal.NewNonRetryableApplicationError("the worker has no Sinch token cache or secret box", ErrTypeBadInput, nil)
	}
	if err := a.checkSinchHosts(acc); err != nil {
		return VerifyCredentialsResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeMigrationCredentials, err)
	}
	secret, err := a.Secrets.Open(acc.KeySecretEnc, secretbox.AccountAAD(acc.ID, "key_secret"))
	if err != nil {
		return VerifyCredentialsResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the key secret of account %d cannot be decrypted: %v", acc.ID, err), ErrTypeMigrationCredentials, err)
	}
	authURL := sinch.AuthURLOf(acc.AuthURL)
	res := VerifyCredentialsResult{AuthURL: authURL, KeyID: acc.KeyID}
	if _, err := a.Tokens.Token(ctx, authURL, acc.KeyID, secret); err != nil {
		if apiErr, ok := sinch.AsAPIError(err); ok && !apiErr.Retryable() {
			return res, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("Sinch refused the key of account %d at %s: %v", acc.ID, authURL, apiErr), ErrTypeMigrationCredentials, err)
		}
		return res, fmt.Errorf("fetch a Sinch token for account %d at %s: %w", acc.ID, authURL, err)
	}
	a.log(ctx, acc.ID).Info("migration credentials verified", "migration_id", in.MigrationID, "key_id", acc.KeyID)
	return res, nil
}
