package app_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/xcally-connector/connector/app"
	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/devserver"
	"github.com/xcally-connector/connector/models/testdb"
	"github.com/xcally-connector/connector/workflows"
)

// pki is a throw-away CA with a certificate for the engine (server and
// client use: its system worker presents it under mutual TLS) and one for
// the connector's processes.
type pki struct {
	dir                                  string
	ca, engineCert, engineKey, cert, key string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	p := pki{dir: dir, ca: filepath.Join(dir, "ca.pem")}
	writePEM(t, p.ca, "CERTIFICATE", caDER)
	issue := func(name string, serial int64, dns []string) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			DNSNames: dns, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		require.NoError(t, err)
		certPath, keyPath := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		writePEM(t, certPath, "CERTIFICATE", der)
		writePEM(t, keyPath, "PRIVATE KEY", keyDER)
		return certPath, keyPath
	}
	p.engineCert, p.engineKey = issue("engine", 2, []string{"engine.test"})
	p.cert, p.key = issue("connector", 3, nil)
	return p
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600))
}

// keyCheck is the engine's stand-in for an API-key authorizer: a call
// with a bearer token must carry the right one (Temporal's own system
// worker calls with none), and every accepted call with the token is
// recorded by method.
type keyCheck struct {
	key  string
	mu   sync.Mutex
	seen map[string]int
}

func (k *keyCheck) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if auth := md.Get("authorization"); len(auth) > 0 {
		if auth[0] != "Bearer "+k.key {
			return nil, status.Error(codes.Unauthenticated, "wrong API key")
		}
		k.mu.Lock()
		k.seen[info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]]++
		k.mu.Unlock()
	}
	return handler(ctx, req)
}

func (k *keyCheck) count(method string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.seen[method]
}

// TestWorkerReachesASecuredEngine: `connector engine` serves TLS and
// requires client certificates; the worker, configured with
// TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_CA,
// TEMPORAL_TLS_SERVER_NAME and TEMPORAL_API_KEY, connects, sends its key
// on every call and polls its task queue. A plaintext client is refused,
// and a worker with a wrong key stops at once with an error naming the
// credentials instead of retrying for ever.
func TestWorkerReachesASecuredEngine(t *testing.T) {
	dbURL := testdb.TemporalDatabaseURL(t)
	p := newPKI(t)
	check := &keyCheck{key: "good-key-0123456789", seen: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	engine, err := devserver.Start(ctx, devserver.Options{
		FrontendAddr: "127.0.0.1:0", Namespace: "secure", SearchAttributes: workflows.SearchAttributes,
		DatabaseURL: dbURL, MaxConns: 3,
		TLS:                  &devserver.TLS{CertFile: p.engineCert, KeyFile: p.engineKey, CAFile: p.ca, ServerName: "engine.test", ClientCAFile: p.ca},
		FrontendInterceptors: []grpc.UnaryServerInterceptor{check.intercept},
	})
	require.NoError(t, err)
	defer engine.Stop()

	// Plaintext is refused by a TLS frontend.
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = client.DialContext(dctx, client.Options{HostPort: engine.FrontendAddr(), Namespace: "secure"})
	dcancel()
	require.Error(t, err, "a plaintext client must not reach a TLS frontend")

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	env := map[string]string{
		"DATABASE_URL":             filepath.Join(t.TempDir(), "connector.db"),
		"DATA_DIR":                 t.TempDir(),
		"TEMPORAL_ADDRESS":         engine.FrontendAddr(),
		"TEMPORAL_NAMESPACE":       "secure",
		"TEMPORAL_TLS_CERT":        p.cert,
		"TEMPORAL_TLS_KEY":         p.key,
		"TEMPORAL_TLS_CA":          p.ca,
		"TEMPORAL_TLS_SERVER_NAME": "engine.test",
		"TEMPORAL_API_KEY":         check.key,
		"SECRET_KEY":               hex.EncodeToString(secret),
		"PII_CODEC_KEYS":           "t:" + hex.EncodeToString(secret),
		"METRICS_ADDR":             "off",
		"RETENTION_EVERY":          "off",
		"SHUTDOWN_TIMEOUT":         "2s",
	}
	getenv := func(k string) string { return env[k] }

	wctx, stopWorker := context.WithCancel(ctx)
	done := make(chan error, 1)
	var stderr bytes.Buffer
	go func() { done <- app.Main(wctx, config.RoleWorker, nil, getenv, &bytes.Buffer{}, &stderr) }()
	require.Eventually(t, func() bool { return check.count("PollWorkflowTaskQueue") > 0 }, time.Minute, 100*time.Millisecond,
		"the worker polls over mutual TLS with its API key")
	assert.Positive(t, check.count("GetSystemInfo"), "the dial itself carried the key")
	stopWorker()
	select {
	case err := <-done:
		require.NoError(t, err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop")
	}

	env["TEMPORAL_API_KEY"] = "wrong-key-0123456789"
	stderr.Reset()
	start := time.Now()
	err = app.Main(ctx, config.RoleWorker, nil, getenv, &bytes.Buffer{}, &stderr)
	require.Error(t, err, "a refused key ends the worker")
	assert.Less(t, time.Since(start), 30*time.Second, "no retrying for ever on refused credentials")
	assert.Contains(t, stderr.String(), "refused this client's credentials")
}
