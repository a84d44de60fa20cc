package sinch_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch"
)

func TestSinchHosts(t *testing.T) {
	for _, ok := range []string{"https://eu.conversation.api.sinch.com", "https://us.conversation.api.sinch.com/", "https://BR.conversation.api.sinch.com:443"} {
		assert.NoError(t, sinch.CheckBaseURL(ok), ok)
	}
	for _, bad := range []string{
		"http://eu.conversation.api.sinch.com", "https://conversation.api.sinch.com", "https://eu.conversation.api.sinch.com.evil.example",
		"https://evil.example/eu.conversation.api.sinch.com", "https://a.b.conversation.api.sinch.com", "https://eu.conversation.api.sinch.com:8443",
		"https://user:pw@eu.conversation.api.sinch.com", "https://127.0.0.1:8090", "not a url",
	} {
		assert.Error(t, sinch.CheckBaseURL(bad), bad)
	}
	for _, ok := range []string{sinch.DefaultAuthURL, "https://eu.auth.sinch.com/oauth2/token"} {
		assert.NoError(t, sinch.CheckAuthURL(ok), ok)
	}
	for _, bad := range []string{"http://auth.sinch.com/oauth2/token", "https://auth.sinch.com.evil.example/oauth2/token", "https://evilauth.sinch.com/x", "https://attacker.example/oauth2/token"} {
		assert.Error(t, sinch.CheckAuthURL(bad), bad)
	}
	err := sinch.CheckAuthURL("https://attacker.example/oauth2/token")
	assert.ErrorContains(t, err, `"attacker.example" is not a Sinch host`)
}

func TestCheckEndpointsNamesTheField(t *testing.T) {
	assert.NoError(t, sinch.CheckEndpoints("", ""), "the region's defaults")
	assert.NoError(t, sinch.CheckEndpoints("https://eu.conversation.api.sinch.com", sinch.DefaultAuthURL))
	var he *sinch.HostError
	err := sinch.CheckEndpoints("http://127.0.0.1:8090", "")
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "baseUrl", he.Field)
	err = sinch.CheckEndpoints("", "https://attacker.example/oauth2/token")
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "authUrl", he.Field)
	assert.ErrorContains(t, err, `authUrl: "attacker.example" is not a Sinch host`)
}
