package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"go.temporal.io/sdk/client"

	"github.com/xcally-connector/connector/config"
)

// secureTemporal adds TEMPORAL_TLS_* and TEMPORAL_API_KEY to the client
// options: TLS with the CA, server name and client certificate given, and
// the API key as a bearer token on every call. Without any of them the
// client dials in plaintext, as a local engine expects.
func secureTemporal(opts *client.Options, t config.TemporalClientTLS) error {
	if !t.Enabled() {
		return nil
	}
	tc := &tls.Config{ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return &config.Error{Var: "TEMPORAL_TLS_CA", Msg: err.Error()}
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return &config.Error{Var: "TEMPORAL_TLS_CA", Msg: fmt.Sprintf("%s holds no PEM certificate", t.CAFile)}
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return &config.Error{Var: "TEMPORAL_TLS_CERT", Msg: "cannot load the client certificate and key: " + err.Error()}
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	opts.ConnectionOptions.TLS = tc
	if t.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(t.APIKey)
	}
	return nil
}
