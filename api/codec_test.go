package api_test

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/internal/piicodec"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

const (
	codecToken = "test-codec-token-0123456789"
	uiOrigin   = "https://temporal-ui.example.com"
	devOrigin  = "http://localhost:8233"
)

func codecKey(t *testing.T, id string) piicodec.Key {
	t.Helper()
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return piicodec.Key{ID: id, Key: b}
}

func newCodecServer(t *testing.T, token string, keys ...piicodec.Key) *echo.Echo {
	t.Helper()
	codec, err := piicodec.New(keys)
	require.NoError(t, err)
	return api.New(api.Deps{
		DB: testdb.Open(t, models.SQLite), Temporal: &fakeTemporal{}, AdminToken: adminToken, TaskQueue: "q",
		Codec: codec, CodecToken: token, CodecCORSOrigins: []string{uiOrigin}, CodecDevOrigins: []string{devOrigin},
	})
}

func payloadsJSON(t *testing.T, ps ...*commonpb.Payload) string {
	t.Helper()
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	require.NoError(t, err)
	return string(b)
}

func TestCodecEndpointSpeaksTheRemoteCodecProtocol(t *testing.T) {
	e := newCodecServer(t, codecToken, codecKey(t, "k1"))
	srv := httptest.NewServer(e)
	defer srv.Close()
	// The SDK's remote codec is the client side of the protocol the CLI
	// (--codec-endpoint, --codec-auth) and the UI use.
	remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{
		Endpoint: srv.URL + "/codec",
		ModifyRequest: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+codecToken)
			r.Header.Set("X-Namespace", "default")
			return nil
		},
	})
	clear, err := converter.GetDefaultDataConverter().ToPayload("ciao, sono Mario Rossi")
	require.NoError(t, err)
	enc, err := remote.Encode([]*commonpb.Payload{clear})
	require.NoError(t, err)
	require.Len(t, enc, 1)
	assert.Equal(t, "binary/encrypted", string(enc[0].Metadata["encoding"]))
	assert.Equal(t, "k1", string(enc[0].Metadata["encryption-key-id"]))
	assert.NotContains(t, string(enc[0].Data), "Mario")

	dec, err := remote.Decode(enc)
	require.NoError(t, err)
	var s string
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(dec[0], &s))
	assert.Equal(t, "ciao, sono Mario Rossi", s)

	// A clear payload (an old history) comes back as it is.
	dec, err = remote.Decode([]*commonpb.Payload{clear})
	require.NoError(t, err)
	assert.Equal(t, clear.Data, dec[0].Data)
}

func TestCodecEndpointToken(t *testing.T) {
	e := newCodecServer(t, codecToken, codecKey(t, "k1"))
	body := payloadsJSON(t)

	rec := do(e, http.MethodPost, "/codec/decode", body, nil)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, "unauthorized", errorBody(t, rec).Code)
	assert.Contains(t, errorBody(t, rec).Message, "CODEC_TOKEN")

	rec = do(e, http.MethodPost, "/codec/decode", body, map[string]string{"Authorization": "Bearer " + adminToken})
	assert.Equal(t, http.StatusForbidden, rec.Code, "the admin token is not the codec token")
	assert.Equal(t, "forbidden", errorBody(t, rec).Code)

	rec = do(e, http.MethodPost, "/codec/encode", body, map[string]string{"Authorization": "Bearer " + codecToken})
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.JSONEq(t, `{}`, rec.Body.String(), "no payloads in, none out")

	off := newCodecServer(t, "", codecKey(t, "k1"))
	rec = do(off, http.MethodPost, "/codec/decode", body, map[string]string{"Authorization": "Bearer " + codecToken})
	assert.Equal(t, http.StatusForbidden, rec.Code, "no CODEC_TOKEN: the endpoint is off")
	rec = do(off, http.MethodPost, "/codec/decode", body, nil)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Contains(t, errorBody(t, rec).Message, "set CODEC_TOKEN")
}

func TestCodecEndpointCORS(t *testing.T) {
	e := newCodecServer(t, codecToken, codecKey(t, "k1"))
	pre := map[string]string{
		"Origin": uiOrigin, "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "authorization,content-type,x-namespace",
	}
	for _, path := range []string{"/codec/decode", "/codec/encode"} {
		rec := do(e, http.MethodOptions, path, "", pre)
		assert.Equal(t, http.StatusNoContent, rec.Code, path)
		h := rec.Header()
		assert.Equal(t, uiOrigin, h.Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "true", h.Get("Access-Control-Allow-Credentials"))
		assert.Contains(t, h.Get("Access-Control-Allow-Methods"), "POST")
		for _, name := range []string{"Authorization", "X-Namespace", "Content-Type"} {
			assert.Contains(t, h.Get("Access-Control-Allow-Headers"), name)
		}
	}

	pre["Origin"] = "https://evil.example.com"
	rec := do(e, http.MethodOptions, "/codec/decode", "", pre)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"))
	assert.Contains(t, errorBody(t, rec).Message, "CODEC_CORS_ORIGINS")

	rec = do(e, http.MethodPost, "/codec/decode", payloadsJSON(t), map[string]string{"Origin": uiOrigin, "Authorization": "Bearer " + codecToken, "X-Namespace": "default"})
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, uiOrigin, rec.Header().Get("Access-Control-Allow-Origin"))

	// An error answer still carries the CORS headers, so the UI can read it.
	rec = do(e, http.MethodPost, "/codec/decode", payloadsJSON(t), map[string]string{"Origin": uiOrigin})
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, uiOrigin, rec.Header().Get("Access-Control-Allow-Origin"))
}

func TestCodecEndpointBadRequests(t *testing.T) {
	k1 := codecKey(t, "k1")
	e := newCodecServer(t, codecToken, k1)
	auth := map[string]string{"Authorization": "Bearer " + codecToken}

	for name, body := range map[string]string{"empty": "", "not json": "payloads please", "wrong shape": `{"payloads":"x"}`, "unknown field": `{"items":[]}`} {
		rec := do(e, http.MethodPost, "/codec/decode", body, auth)
		assert.Equal(t, http.StatusBadRequest, rec.Code, name)
		assert.Equal(t, "bad_body", errorBody(t, rec).Code, name)
		assert.Contains(t, errorBody(t, rec).Message, "payloads", name)
	}

	req := map[string]string{"Authorization": "Bearer " + codecToken, "Content-Type": "text/plain"}
	rec := do(e, http.MethodPost, "/codec/decode", payloadsJSON(t), req)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "bad_content_type", errorBody(t, rec).Code)

	// A payload of a key this server does not have: 400 naming the key.
	other, err := piicodec.New([]piicodec.Key{codecKey(t, "k0")})
	require.NoError(t, err)
	clear, err := converter.GetDefaultDataConverter().ToPayload("x")
	require.NoError(t, err)
	enc, err := other.Encode([]*commonpb.Payload{clear})
	require.NoError(t, err)
	rec = do(e, http.MethodPost, "/codec/decode", payloadsJSON(t, enc...), auth)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, "decode_failed", errorBody(t, rec).Code)
	assert.Contains(t, errorBody(t, rec).Message, `"k0"`)
	assert.Contains(t, errorBody(t, rec).Message, "PII_CODEC_KEYS")

	rec = do(e, http.MethodGet, "/codec/decode", "", auth)
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

// The dev rule (docs/decisions.md §16): the embedded UI's origin, from
// loopback, needs no token; the same origin from elsewhere does.
func TestCodecEndpointDevUIRule(t *testing.T) {
	e := newCodecServer(t, codecToken, codecKey(t, "k1"))
	srv := httptest.NewServer(e)
	defer srv.Close()
	post := func(origin string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/codec/decode", strings.NewReader(`{"payloads":[]}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp
	}
	resp := post(devOrigin)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "dev UI from loopback")
	assert.Equal(t, devOrigin, resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, http.StatusUnauthorized, post("").StatusCode, "no origin (the CLI, a script): token needed")
	assert.Equal(t, http.StatusUnauthorized, post(uiOrigin).StatusCode, "a production UI origin: token needed")

	// httptest.NewRequest comes from 192.0.2.1: not loopback.
	rec := do(e, http.MethodPost, "/codec/decode", `{"payloads":[]}`, map[string]string{"Origin": devOrigin})
	assert.Equal(t, http.StatusUnauthorized, rec.Code, "the dev origin from another machine")
}
