package web

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOpsNextActionNamesTheControls(t *testing.T) {
	for in, want := range map[string]string{
		"email your Sinch account manager App ID A; when the account manager confirms the number moved, POST /api/migrations/7/confirm":            "email your Sinch account manager App ID A; when the account manager confirms the number moved, press “The account manager confirmed” below",
		"correct it: GET /api/whatsapp/accounts/12/sinch shows each problem; then POST /api/migrations/7/retry (or POST /api/migrations/7/cancel)": "correct it: the Sinch side tab of account 12 shows each problem; then press “Retry the failed step” below (or “Cancel the migration”)",
		"fix the cause and start again with POST /api/migrations: the migration failed":                                                            "fix the cause and start again with “Start a migration”: the migration failed",
		"nothing to do: waiting": "nothing to do: waiting",
	} {
		assert.Equal(t, want, opsNextAction(in))
	}
}
