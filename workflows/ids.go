package workflows

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DiagnosticsWorkflowID names one diagnostics run; the nanosecond timestamp
// keeps concurrent runs apart and sorts them in the Temporal UI.
func DiagnosticsWorkflowID(at time.Time) string {
	return fmt.Sprintf("diagnostics/%d", at.UnixNano())
}

// ConversationWorkflowID is the id of the conversation of one channel
// identity on one account. It is readable in the Temporal UI and needs no
// Sinch contact_id, so it works in DISPATCH mode too. Starters call it
// through Identities, which hashes the identity when configured.
func ConversationWorkflowID(accountID uint64, channel, identity string) string {
	return conversationPrefix(accountID) + channel + "/" + identity
}

// Identities says what stands for a contact identity (phone number, IG id)
// in conversation workflow ids and the ContactIdentity search attribute:
// the identity itself, or with a HashKey (PII_HASH_IDENTITIES) its keyed
// hash, so strict deployments keep no phone number in clear in Temporal.
type Identities struct {
	// HashKey is nil for clear identities; see IdentityHashKey.
	HashKey []byte
}

// identityHashLabel separates this use of the key from its others.
const identityHashLabel = "xcally-connector/contact-identity-hash/v1"

// IdentityHashKey derives the identity hash key from the SECRET_KEYS key
// that PII_HASH_KEY_ID names (a labelled HMAC, so the key itself never
// hashes identities).
func IdentityHashKey(secretKey []byte) []byte {
	m := hmac.New(sha256.New, secretKey)
	m.Write([]byte(identityHashLabel))
	return m.Sum(nil)
}

// Key is what stands for identity: itself, or "h-" and 32 hex characters
// of its HMAC-SHA256 (128 bits). Spaces and a leading "+" are ignored when
// hashing, so `connector search-key +39 333 1234567` matches WhatsApp's
// 393331234567.
func (ids Identities) Key(identity string) string {
	if ids.HashKey == nil {
		return identity
	}
	norm := strings.TrimPrefix(strings.Join(strings.Fields(identity), ""), "+")
	m := hmac.New(sha256.New, ids.HashKey)
	m.Write([]byte(norm))
	return "h-" + hex.EncodeToString(m.Sum(nil)[:16])
}

// ConversationWorkflowID is ConversationWorkflowID with the identity's Key.
func (ids Identities) ConversationWorkflowID(accountID uint64, channel, identity string) string {
	return ConversationWorkflowID(accountID, channel, ids.Key(identity))
}

// IsConversationOf reports whether workflowID is a conversation workflow
// of the account (built by ConversationWorkflowID). Ids read from a Sinch
// callback body are checked with it before they are used: a callback on
// one account's URL only ever reaches that account's conversations.
func IsConversationOf(workflowID string, accountID uint64) bool {
	rest, ok := strings.CutPrefix(workflowID, conversationPrefix(accountID))
	return ok && rest != ""
}

// conversationPrefix starts every conversation workflow id of an account.
func conversationPrefix(accountID uint64) string {
	return "conversation/" + strconv.FormatUint(accountID, 10) + "/"
}

// AgentReleaseWorkflowID names one take back of an agent's interactions;
// requestID (the API request's id) keeps repeated requests apart.
func AgentReleaseWorkflowID(agentID, accountID uint64, requestID string) string {
	return fmt.Sprintf("agent-release/%d/%d/%s", agentID, accountID, requestID)
}

// ReconcileWorkflowID names one reconciliation of an account; id is the
// reconciliation's own id (its start time in Unix nanoseconds).
func ReconcileWorkflowID(accountID uint64, id string) string {
	return fmt.Sprintf("reconcile/%d/%s", accountID, id)
}

// MediaFetchWorkflowID names the fetch of the files of one inbound message
// (Sinch message id) on an account; a retry of a failed fetch reuses it.
func MediaFetchWorkflowID(accountID uint64, providerMessageID string) string {
	return fmt.Sprintf("media/%d/%s", accountID, providerMessageID)
}

// MigrationWorkflowID names migration migrationID (the migrations row) of
// a source account.
func MigrationWorkflowID(sourceAccountID, migrationID uint64) string {
	return fmt.Sprintf("migration/%d/%d", sourceAccountID, migrationID)
}

// MemoAccountName is the memo field holding the account's name, shown by
// the Temporal UI beside the workflow: ids and search attributes carry the
// account's number only.
const MemoAccountName = "accountName"

// AccountMemo is the memo a workflow about one account starts with. The
// memo goes through the data converter, so the PII codec encrypts it like
// any payload; nil when the name is unknown.
func AccountMemo(accountName string) map[string]any {
	if accountName == "" {
		return nil
	}
	return map[string]any{MemoAccountName: accountName}
}

// RetentionScheduleID is the id of the Temporal schedule that runs
// RetentionWorkflow; it is also the prefix of its runs' workflow ids
// (RetentionWorkflowID).
const RetentionScheduleID = "retention"

// RetentionWorkflowID is the id of the retention run scheduled for at:
// Temporal names a schedule's runs after the schedule's action id and the
// nominal time, e.g. retention-2026-12-01T23:00:00Z.
func RetentionWorkflowID(at time.Time) string {
	return RetentionScheduleID + "-" + at.UTC().Truncate(time.Second).Format(time.RFC3339)
}
