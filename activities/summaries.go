package activities

import (
	"fmt"
	"strings"
	"time"
)

// Summary lines of activity inputs. The workflows put them in each
// activity's Summary, which the Temporal UI shows on the event of every
// step ("route interaction 12 through queue 3"), so an operator reads what
// a conversation did without opening payloads. They carry ids, counts and
// codes only: never message text, contact names or numbers.

func (in IngestInboundInput) Summary() string {
	if in.InteractionID != 0 {
		return fmt.Sprintf("store %d inbound message(s) of account %d in interaction %d", len(in.Messages), in.AccountID, in.InteractionID)
	}
	return fmt.Sprintf("store %d inbound message(s) of account %d, opening an interaction", len(in.Messages), in.AccountID)
}

func (in RouteInput) Summary() string {
	s := fmt.Sprintf("route interaction %d", in.InteractionID)
	if in.QueueID != 0 {
		s += fmt.Sprintf(" in queue %d", in.QueueID)
	}
	if in.Strategy != "" {
		s += " (" + in.Strategy + ")"
	}
	return s
}

func (in NotifyInput) Summary() string {
	s := fmt.Sprintf("tell the assigned agent of interaction %d", in.InteractionID)
	if len(in.AgentIDs) > 0 {
		s = fmt.Sprintf("offer interaction %d to agents %s (offer %d)", in.InteractionID, ids(in.AgentIDs), in.Attempt)
	}
	if len(in.Withdrawn) > 0 {
		s += ", withdraw from " + ids(in.Withdrawn)
	}
	return s
}

func (in MoveToQueueInput) Summary() string {
	if in.QueueID == 0 {
		return fmt.Sprintf("unassign interaction %d", in.InteractionID)
	}
	return fmt.Sprintf("move interaction %d to queue %d", in.InteractionID, in.QueueID)
}

func (in AssignToAgentInput) Summary() string {
	return fmt.Sprintf("assign interaction %d to agent %d (queue %d)", in.InteractionID, in.AgentID, in.QueueID)
}

func (in CreateOutboundInput) Summary() string {
	who := "an automatic reply"
	if in.AgentID != 0 {
		who = fmt.Sprintf("a reply of agent %d", in.AgentID)
	}
	if in.Attachment != nil {
		who += " with a file"
	}
	return fmt.Sprintf("record %s in interaction %d", who, in.InteractionID)
}

func (in SendOutboundInput) Summary() string {
	return fmt.Sprintf("send message %d to Sinch (attempt %d)", in.MessageID, in.Attempt)
}

func (in SplitOutboundInput) Summary() string {
	return fmt.Sprintf("split message %d into %d parts", in.MessageID, len(in.Parts))
}

func (in RecordOutboundFailureInput) Summary() string {
	return fmt.Sprintf("fail message %d: %s %s after %d attempt(s)", in.MessageID, in.Failure.Class, in.Failure.Code, in.Attempts)
}

func (in ApplyDeliveryInput) Summary() string {
	s := fmt.Sprintf("delivery report %s for Sinch message %s", in.Status, in.MessageID)
	if in.ReasonCode != "" {
		s += " (" + in.ReasonCode + ")"
	}
	return s
}

func (in CloseIdleInput) Summary() string {
	return fmt.Sprintf("close interaction %d, idle for %s", in.InteractionID, in.IdleFor)
}

func (in CloseInteractionInput) Summary() string {
	s := fmt.Sprintf("close interaction %d", in.InteractionID)
	if in.Reason != "" {
		s += ": " + in.Reason
	}
	return s
}

func (in PublishContactEventInput) Summary() string {
	return fmt.Sprintf("publish %s %s of interaction %d", in.Kind, in.EventID, in.InteractionID)
}

func (in FetchMediaInput) Summary() string {
	return fmt.Sprintf("fetch the files of Sinch message %s (account %d)", in.ProviderMessageID, in.AccountID)
}

func (in FailMediaFetchInput) Summary() string {
	return fmt.Sprintf("fail the files of Sinch message %s after %s", in.ProviderMessageID, in.RetriedFor)
}

func (in ReconcilePageInput) Summary() string {
	page := "first page"
	if in.PageToken != "" {
		page = "next page"
	}
	return fmt.Sprintf("list account %d's messages %s to %s, %s", in.AccountID, in.From.Format("2006-01-02T15:04Z07:00"), in.To.Format("2006-01-02T15:04Z07:00"), page)
}

func (in MigrationInput) Summary() string {
	return fmt.Sprintf("migration %d", in.MigrationID)
}

func (in MigrationAccountInput) Summary() string {
	return fmt.Sprintf("migration %d, account %d", in.MigrationID, in.AccountID)
}

func (in MigrationPairInput) Summary() string {
	return fmt.Sprintf("migration %d, account %d to %d", in.MigrationID, in.SourceAccountID, in.TargetAccountID)
}

func (in RemindMigrationInput) Summary() string {
	return fmt.Sprintf("reminder %d of migration %d on account %d", in.Reminder, in.MigrationID, in.SourceAccountID)
}

func (in CompensateMigrationInput) Summary() string {
	return fmt.Sprintf("undo migration %d: %s", in.MigrationID, in.Reason)
}

func (in MigrationRecord) Summary() string {
	return fmt.Sprintf("record migration %d: %s", in.MigrationID, in.State)
}

func (in PruneInput) Summary() string {
	before := func(t time.Time) string {
		if t.IsZero() {
			return "kept"
		}
		return "before " + t.UTC().Format("2006-01-02T15:04Z")
	}
	return fmt.Sprintf("prune agent_events %s, account_events %s, webhook_nonces %s",
		before(in.AgentEventsBefore), before(in.AccountEventsBefore), before(in.NoncesBefore))
}

func ids(v []uint64) string {
	parts := make([]string, len(v))
	for i, id := range v {
		parts[i] = fmt.Sprint(id)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func (in HeldInteractionsInput) Summary() string {
	if in.AccountID == 0 {
		return fmt.Sprintf("list the open interactions held by or offered to agent %d", in.AgentID)
	}
	return fmt.Sprintf("list the open interactions of account %d held by or offered to agent %d", in.AccountID, in.AgentID)
}
