package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Names of the custom search attributes the connector's workflows upsert.
// They must be registered on the namespace before a workflow sets them:
// `connector dev` does it on its embedded engine, and the production compose
// stack does it in deploy/temporal/setup.sh (checked by the deploy package tests).
const (
	AccountIDAttr         = "AccountId"
	ChannelAttr           = "Channel"
	ContactIdentityAttr   = "ContactIdentity"
	InteractionStatusAttr = "InteractionStatus"
	AgentIDAttr           = "AgentId"
	QueueIDAttr           = "QueueId"
	MigrationStateAttr    = "MigrationState"
)

// Typed keys of the custom search attributes, for workflow.UpsertTypedSearchAttributes
// and client.StartWorkflowOptions.TypedSearchAttributes.
var (
	// AccountIDKey is the ID of the WhatsApp account the workflow serves.
	AccountIDKey = temporal.NewSearchAttributeKeyKeyword(AccountIDAttr)
	// ChannelKey is the messaging channel (e.g. "whatsapp").
	ChannelKey = temporal.NewSearchAttributeKeyKeyword(ChannelAttr)
	// ContactIdentityKey is the contact's address on the channel (phone number).
	ContactIdentityKey = temporal.NewSearchAttributeKeyKeyword(ContactIdentityAttr)
	// InteractionStatusKey is the current status of the interaction.
	InteractionStatusKey = temporal.NewSearchAttributeKeyKeyword(InteractionStatusAttr)
	// AgentIDKey is the agent the interaction is assigned to, if any.
	AgentIDKey = temporal.NewSearchAttributeKeyKeyword(AgentIDAttr)
	// QueueIDKey is the queue the interaction was routed to, if any.
	QueueIDKey = temporal.NewSearchAttributeKeyKeyword(QueueIDAttr)
	// MigrationStateKey is the state of an account migration (running,
	// awaiting_confirmation, …); MigrationWorkflow sets AccountIDKey to
	// the source account.
	MigrationStateKey = temporal.NewSearchAttributeKeyKeyword(MigrationStateAttr)
)

// SearchAttributeKeys lists every custom search attribute key, in a stable order.
var SearchAttributeKeys = []temporal.SearchAttributeKey{
	AccountIDKey,
	ChannelKey,
	ContactIdentityKey,
	InteractionStatusKey,
	AgentIDKey,
	QueueIDKey,
	MigrationStateKey,
}

// SearchAttributes maps each custom search attribute name to its indexed type,
// the shape Temporal's operator API and the dev server's namespace setup take.
// It is derived from SearchAttributeKeys so names and types cannot drift.
var SearchAttributes = searchAttributeTypes(SearchAttributeKeys)

func searchAttributeTypes(keys []temporal.SearchAttributeKey) map[string]enumspb.IndexedValueType {
	m := make(map[string]enumspb.IndexedValueType, len(keys))
	for _, k := range keys {
		m[k.GetName()] = k.GetValueType()
	}
	return m
}
