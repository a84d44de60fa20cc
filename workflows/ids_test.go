package workflows

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIdentitiesKey(t *testing.T) {
	clear := Identities{}
	assert.Equal(t, "393331234567", clear.Key("393331234567"), "no hash key: the identity itself")
	assert.Equal(t, "conversation/7/WHATSAPP/393331234567", clear.ConversationWorkflowID(7, "WHATSAPP", "393331234567"))

	hashed := Identities{HashKey: IdentityHashKey([]byte("0123456789abcdef0123456789abcdef"))}
	k := hashed.Key("393331234567")
	assert.Regexp(t, `^h-[0-9a-f]{32}$`, k)
	assert.Equal(t, k, hashed.Key("+39 333 1234567"), "a typed number matches WhatsApp's identity")
	assert.NotEqual(t, k, hashed.Key("393331234568"))
	assert.Equal(t, "conversation/7/WHATSAPP/"+k, hashed.ConversationWorkflowID(7, "WHATSAPP", "393331234567"))
	other := Identities{HashKey: IdentityHashKey([]byte("another secret key of 32 bytes!!"))}
	assert.NotEqual(t, k, other.Key("393331234567"), "keyed: another SECRET_KEY, another hash")

	in := ConversationSettings{Identities: hashed}.Input(7, "WHATSAPP", "393331234567")
	assert.Equal(t, k, in.ContactKey, "the starter passes the hash to the workflow")
	assert.Equal(t, "393331234567", in.Identity, "and the identity it sends to")
	assert.Empty(t, ConversationSettings{}.Input(7, "WHATSAPP", "393331234567").ContactKey, "clear mode adds nothing to the input")
}

// IsConversationOf accepts only the account's own conversation ids: not
// another account's whose id shares a prefix, not other workflows.
func TestIsConversationOf(t *testing.T) {
	own := ConversationWorkflowID(1, "WHATSAPP", "393331234567")
	assert.True(t, IsConversationOf(own, 1))
	for _, other := range []string{
		ConversationWorkflowID(10, "WHATSAPP", "393331234567"),
		ConversationWorkflowID(2, "WHATSAPP", "393331234567"),
		"conversation/01/WHATSAPP/393331234567", "conversation/1/", "conversation/1", "migration/1/3", "",
	} {
		assert.False(t, IsConversationOf(other, 1), other)
	}
}
