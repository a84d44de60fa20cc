package deploy_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	temporalschema "go.temporal.io/server/schema"

	"github.com/xcally-connector/connector/config"
	"github.com/xcally-connector/connector/workflows"
)

const (
	repoRoot    = ".."
	composeFile = repoRoot + "/docker-compose.yml"

	// Values for the variables the compose file requires (${VAR:?}). They
	// are valid for config.Validate: a 16+ character token and a 32-byte key.
	testAdminToken = "test-admin-token-0123456789"
	testSecretKey  = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	testCodecKeys  = "k2:1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100,k1:" + testSecretKey
)

// connectorRoles maps the services running the connector binary to the role
// their command selects.
var connectorRoles = map[string]config.Role{
	"api":     config.RoleAPI,
	"worker":  config.RoleWorker,
	"migrate": config.RoleMigrate,
}

// loadProject loads and validates docker-compose.yml the way `docker compose`
// does, with env as the only environment (no OS env, no .env file).
func loadProject(t *testing.T, env map[string]string) (*types.Project, error) {
	t.Helper()
	var pairs []string
	for k, v := range env {
		pairs = append(pairs, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithEnv(pairs),
		cli.WithName("connector-test"),
	)
	require.NoError(t, err)
	return opts.LoadProject(context.Background())
}

func project(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadProject(t, map[string]string{"ADMIN_TOKEN": testAdminToken, "SECRET_KEY": testSecretKey, "PII_CODEC_KEYS": testCodecKeys})
	require.NoError(t, err, "docker-compose.yml must load and validate")
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	require.Truef(t, ok, "docker-compose.yml has no service %q", name)
	return s
}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	require.NoError(t, err)
	return string(b)
}

// env returns a service's environment with every value set.
func env(t *testing.T, s types.ServiceConfig) map[string]string {
	t.Helper()
	m := make(map[string]string, len(s.Environment))
	for k, v := range s.Environment {
		require.NotNilf(t, v, "service %s: %s has no value", s.Name, k)
		m[k] = *v
	}
	return m
}

func absRepoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(repoRoot)
	require.NoError(t, err)
	return root
}

func TestComposeLoads(t *testing.T) {
	p := project(t)
	for _, name := range []string{"postgres", "temporal-schema", "temporal", "temporal-setup", "temporal-ui", "migrate", "api", "worker"} {
		service(t, p, name)
	}
}

func TestComposeRequiresSecrets(t *testing.T) {
	for _, missing := range []string{"ADMIN_TOKEN", "SECRET_KEY", "PII_CODEC_KEYS"} {
		t.Run(missing, func(t *testing.T) {
			e := map[string]string{"ADMIN_TOKEN": testAdminToken, "SECRET_KEY": testSecretKey, "PII_CODEC_KEYS": testCodecKeys}
			delete(e, missing)
			_, err := loadProject(t, e)
			require.Error(t, err, "loading without %s must fail", missing)
			assert.Contains(t, err.Error(), missing)
		})
	}
}

// TestComposeSecretKeys: SECRET_KEYS is passed as given; the single
// SECRET_KEY still works and reaches the connector as SECRET_KEYS=k0:<key>
// (config.LegacySecretKeyID), the same key under the same id.
func TestComposeSecretKeys(t *testing.T) {
	rotated := "k1:" + strings.Repeat("ab", 32) + ",k0:" + testSecretKey
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"SECRET_KEYS": {map[string]string{"SECRET_KEYS": rotated, "PII_HASH_KEY_ID": "k0"}, rotated},
		"SECRET_KEY":  {map[string]string{"SECRET_KEY": testSecretKey}, config.LegacySecretKeyID + ":" + testSecretKey},
	} {
		t.Run(name, func(t *testing.T) {
			e := map[string]string{"ADMIN_TOKEN": testAdminToken, "PII_CODEC_KEYS": testCodecKeys, "PII_HASH_IDENTITIES": "true"}
			for k, v := range tc.env {
				e[k] = v
			}
			p, err := loadProject(t, e)
			require.NoError(t, err)
			for name, role := range connectorRoles {
				se := env(t, service(t, p, name))
				assert.Equal(t, tc.want, se["SECRET_KEYS"], name)
				assert.NotContains(t, se, "SECRET_KEY", "%s: one of the two reaches the connector", name)
				cfg, err := config.Load(func(k string) string { return se[k] })
				require.NoError(t, err, name)
				require.NoError(t, cfg.Validate(role), name)
			}
		})
	}
}

func TestConnectorServicesBuildFromRepo(t *testing.T) {
	p := project(t)
	root := absRepoRoot(t)
	for name := range connectorRoles {
		s := service(t, p, name)
		require.NotNilf(t, s.Build, "service %s must be built from the repository", name)
		assert.Equalf(t, root, filepath.Clean(s.Build.Context), "service %s build context", name)
		assert.Containsf(t, []string{"", "Dockerfile"}, s.Build.Dockerfile, "service %s dockerfile", name)
		assert.Equalf(t, types.ShellCommand{name}, s.Command, "service %s command", name)
	}
	assert.Equal(t, "no", service(t, p, "migrate").Restart, "migrate runs once: a restart policy would re-run it")
}

func TestConnectorDependencies(t *testing.T) {
	p := project(t)
	want := map[string][]string{
		"postgres":       {types.ServiceConditionHealthy},
		"migrate":        {types.ServiceConditionCompletedSuccessfully},
		"temporal":       {types.ServiceConditionHealthy, types.ServiceConditionStarted},
		"temporal-setup": {types.ServiceConditionCompletedSuccessfully},
	}
	for _, name := range []string{"api", "worker"} {
		s := service(t, p, name)
		for dep, conditions := range want {
			d, ok := s.DependsOn[dep]
			if assert.Truef(t, ok, "service %s must depend on %s", name, dep) {
				assert.Containsf(t, conditions, d.Condition, "service %s: condition on %s", name, dep)
			}
		}
	}
	migrate := service(t, p, "migrate")
	if d, ok := migrate.DependsOn["postgres"]; assert.True(t, ok, "migrate must depend on postgres") {
		assert.Equal(t, types.ServiceConditionHealthy, d.Condition)
	}

	// Temporal's own chain: schema before server, server before setup.
	temporal := service(t, p, "temporal")
	if d, ok := temporal.DependsOn["temporal-schema"]; assert.True(t, ok, "temporal must wait for its schema") {
		assert.Equal(t, types.ServiceConditionCompletedSuccessfully, d.Condition)
	}
	setup := service(t, p, "temporal-setup")
	if d, ok := setup.DependsOn["temporal"]; assert.True(t, ok, "temporal-setup must wait for temporal") {
		assert.Equal(t, types.ServiceConditionHealthy, d.Condition)
	}
	for _, name := range []string{"temporal-schema", "temporal-setup"} {
		assert.Equalf(t, "no", service(t, p, name).Restart, "%s runs once", name)
	}
}

func TestHealthchecks(t *testing.T) {
	p := project(t)
	for _, name := range []string{"api", "postgres", "temporal"} {
		hc := service(t, p, name).HealthCheck
		require.NotNilf(t, hc, "service %s needs a healthcheck", name)
		assert.Falsef(t, hc.Disable, "service %s: healthcheck disabled", name)
		require.NotEmptyf(t, hc.Test, "service %s: healthcheck has no test", name)
		assert.NotEqualf(t, "NONE", hc.Test[0], "service %s: healthcheck disabled", name)
	}

	api := service(t, p, "api")
	_, port, err := net.SplitHostPort(env(t, api)["HTTP_ADDR"])
	require.NoError(t, err, "api HTTP_ADDR")
	assert.Containsf(t, strings.Join(api.HealthCheck.Test, " "), "http://localhost:"+port+"/healthz",
		"api healthcheck must hit /healthz on HTTP_ADDR's port %s", port)
	var targets []string
	for _, pc := range api.Ports {
		targets = append(targets, fmt.Sprint(pc.Target))
	}
	assert.Containsf(t, targets, port, "api must publish HTTP_ADDR's port %s", port)

	assert.Contains(t, strings.Join(service(t, p, "postgres").HealthCheck.Test, " "), "pg_isready")
}

// The worker has no HTTP API: it serves /metrics on METRICS_ADDR, which
// compose publishes.
func TestWorkerMetricsPort(t *testing.T) {
	p := project(t)
	worker := service(t, p, "worker")
	addr := env(t, worker)["METRICS_ADDR"]
	require.NotEqual(t, "off", addr, "the production worker exposes its metrics")
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err, "worker METRICS_ADDR")
	var targets []string
	for _, pc := range worker.Ports {
		targets = append(targets, fmt.Sprint(pc.Target))
	}
	assert.Containsf(t, targets, port, "worker must publish METRICS_ADDR's port %s", port)
}

func TestConnectorEnvironment(t *testing.T) {
	p := project(t)
	known := map[string]bool{}
	for _, v := range config.Vars {
		known[v.Name] = true
	}
	var first map[string]string
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range connectorRoles {
			if !yield(n) {
				return
			}
		}
	}) {
		t.Run(name, func(t *testing.T) {
			e := env(t, service(t, p, name))
			require.NotEmpty(t, e)
			for k := range e {
				assert.Truef(t, known[k], "service %s sets %s, which is not in config.Vars", name, k)
			}
			target, err := config.ParseDatabaseURL(e["DATABASE_URL"])
			require.NoError(t, err, "DATABASE_URL")
			assert.Equal(t, config.Postgres, target.Engine, "DATABASE_URL engine")

			// The environment is a complete, valid configuration for the role.
			cfg, err := config.Load(func(k string) string { return e[k] })
			require.NoError(t, err)
			require.NoError(t, cfg.Validate(connectorRoles[name]))

			if first == nil {
				first = e
			} else {
				assert.Equal(t, first, e, "api, worker and migrate share one environment (x-connector-env)")
			}
		})
	}
}

// goModVersion returns the version go.mod requires for module path, without
// the leading "v", or "" if it is not required.
func goModVersion(t *testing.T, module string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(module) + `\s+v(\S+)`)
	m := re.FindStringSubmatch(readRepoFile(t, "go.mod"))
	if m == nil {
		return ""
	}
	return m[1]
}

func TestTemporalImagesMatchGoMod(t *testing.T) {
	p := project(t)
	server := goModVersion(t, "go.temporal.io/server")
	require.NotEmpty(t, server, "go.mod must require go.temporal.io/server")
	assert.Equal(t, "temporalio/server:"+server, service(t, p, "temporal").Image)
	for _, name := range []string{"temporal-schema", "temporal-setup"} {
		assert.Equalf(t, "temporalio/admin-tools:"+server, service(t, p, name).Image,
			"%s: admin-tools ships with the server and must have its tag", name)
	}
	// The dev server embeds ui-server; production runs the same UI release.
	if ui := goModVersion(t, "github.com/temporalio/ui-server/v2"); ui != "" {
		assert.Equal(t, "temporalio/ui:"+ui, service(t, p, "temporal-ui").Image)
	}
}

// cliTypeName is the name `temporal operator search-attribute create --type`
// takes for an indexed value type.
var cliTypeName = map[enumspb.IndexedValueType]string{
	enumspb.INDEXED_VALUE_TYPE_TEXT:         "Text",
	enumspb.INDEXED_VALUE_TYPE_KEYWORD:      "Keyword",
	enumspb.INDEXED_VALUE_TYPE_INT:          "Int",
	enumspb.INDEXED_VALUE_TYPE_DOUBLE:       "Double",
	enumspb.INDEXED_VALUE_TYPE_BOOL:         "Bool",
	enumspb.INDEXED_VALUE_TYPE_DATETIME:     "Datetime",
	enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList",
}

// mountedScript checks that service s runs /bin/sh <script> from the
// ./deploy/temporal mount and returns the script's repository path.
func mountedScript(t *testing.T, s types.ServiceConfig, script string) string {
	t.Helper()
	root := absRepoRoot(t)
	var mount string
	for _, v := range s.Volumes {
		if filepath.Clean(v.Source) == filepath.Join(root, "deploy", "temporal") {
			mount = v.Target
		}
	}
	require.NotEmptyf(t, mount, "service %s must mount ./deploy/temporal", s.Name)
	run := append(slices.Clone(s.Entrypoint), s.Command...)
	assert.Containsf(t, run, mount+"/"+script, "service %s must run %s", s.Name, script)
	return filepath.Join("deploy", "temporal", script)
}

func TestSearchAttributesRegistered(t *testing.T) {
	p := project(t)
	setup := service(t, p, "temporal-setup")
	script := readRepoFile(t, mountedScript(t, setup, "setup.sh"))

	block := regexp.MustCompile(`(?s)SEARCH_ATTRIBUTES='(.*?)'`).FindStringSubmatch(script)
	require.NotNil(t, block, "setup.sh must list the attributes in SEARCH_ATTRIBUTES='...'")
	registered := map[string]string{}
	for _, line := range strings.Split(block[1], "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		require.Lenf(t, f, 2, "SEARCH_ATTRIBUTES line %q: want <name> <type>", line)
		registered[f[0]] = f[1]
	}
	want := map[string]string{}
	for name, typ := range workflows.SearchAttributes {
		require.Containsf(t, cliTypeName, typ, "search attribute %s: unsupported type %v", name, typ)
		want[name] = cliTypeName[typ]
	}
	require.NotEmpty(t, want)
	assert.Equal(t, want, registered, "deploy/temporal/setup.sh must register exactly workflows.SearchAttributes")
	assert.Regexp(t, `temporal operator search-attribute create [^\n]*--name "\$name" --type "\$type"`, script)

	// The namespace set up is the one the connector uses.
	assert.Equal(t, env(t, service(t, p, "api"))["TEMPORAL_NAMESPACE"], env(t, setup)["TEMPORAL_NAMESPACE"])
	assert.Contains(t, script, "temporal operator namespace create")

	// docs/deploy.md gives the same registrations as commands to copy.
	inDoc := map[string]string{}
	for _, m := range regexp.MustCompile(`temporal operator search-attribute create --namespace \S+ --name (\w+) --type (\w+)`).
		FindAllStringSubmatch(readRepoFile(t, "docs/deploy.md"), -1) {
		inDoc[m[1]] = m[2]
	}
	assert.Equal(t, want, inDoc, "docs/deploy.md must give one search-attribute create command per workflows.SearchAttributes")
}

func TestDatabasesProvisioned(t *testing.T) {
	p := project(t)
	init := readRepoFile(t, "deploy/postgres/init.sql")
	root := absRepoRoot(t)
	var mounted bool
	for _, v := range service(t, p, "postgres").Volumes {
		if filepath.Clean(v.Source) == filepath.Join(root, "deploy", "postgres", "init.sql") {
			mounted = strings.HasPrefix(v.Target, "/docker-entrypoint-initdb.d/")
		}
	}
	assert.True(t, mounted, "postgres must run deploy/postgres/init.sql from /docker-entrypoint-initdb.d")

	roles := map[string]string{} // role -> password
	for _, m := range regexp.MustCompile(`(?i)CREATE ROLE (\w+) LOGIN PASSWORD '([^']*)'`).FindAllStringSubmatch(init, -1) {
		roles[m[1]] = m[2]
	}
	owners := map[string]string{} // database -> owner
	for _, m := range regexp.MustCompile(`(?i)CREATE DATABASE (\w+) OWNER (\w+)`).FindAllStringSubmatch(init, -1) {
		owners[m[1]] = m[2]
	}
	provisioned := func(what, user, password string, dbs ...string) {
		pw, ok := roles[user]
		if assert.Truef(t, ok, "%s: init.sql must create role %s", what, user) {
			assert.Equalf(t, pw, password, "%s: password of role %s", what, user)
		}
		for _, db := range dbs {
			assert.Equalf(t, user, owners[db], "%s: init.sql must create database %s owned by %s", what, db, user)
		}
	}

	u, err := url.Parse(env(t, service(t, p, "api"))["DATABASE_URL"])
	require.NoError(t, err)
	pw, _ := u.User.Password()
	assert.Equal(t, "postgres:5432", u.Host, "DATABASE_URL host")
	provisioned("DATABASE_URL", u.User.Username(), pw, strings.TrimPrefix(u.Path, "/"))

	server := env(t, service(t, p, "temporal"))
	assert.Equal(t, "postgres12", server["DB"])
	assert.Equal(t, "postgres", server["POSTGRES_SEEDS"])
	provisioned("temporal", server["POSTGRES_USER"], server["POSTGRES_PWD"], server["DBNAME"], server["VISIBILITY_DBNAME"])

	schema := service(t, p, "temporal-schema")
	se := env(t, schema)
	provisioned("temporal-schema", se["SQL_USER"], se["SQL_PASSWORD"], se["TEMPORAL_DB"], se["TEMPORAL_VISIBILITY_DB"])
	assert.Equal(t, []string{server["DBNAME"], server["VISIBILITY_DBNAME"]}, []string{se["TEMPORAL_DB"], se["TEMPORAL_VISIBILITY_DB"]},
		"temporal-schema must set up the databases the server uses")
	script := readRepoFile(t, mountedScript(t, schema, "setup-schema.sh"))
	// Each database gets its schema, embedded in temporal-sql-tool of the
	// server version in go.mod.
	for dbVar, name := range map[string]string{
		"TEMPORAL_DB":            "postgresql/v12/temporal",
		"TEMPORAL_VISIBILITY_DB": "postgresql/v12/visibility",
	} {
		assert.Containsf(t, temporalschema.PathsByDB("postgresql"), name, "go.temporal.io/server has no embedded schema %s", name)
		assert.Regexpf(t, `--db "\$`+dbVar+`" update-schema --schema-name `+regexp.QuoteMeta(name)+`\s`, script,
			"setup-schema.sh must apply %s to $%s", name, dbVar)
	}
}

func TestDockerfile(t *testing.T) {
	p := project(t)
	dockerfile := readRepoFile(t, "Dockerfile")

	goDirective := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindStringSubmatch(readRepoFile(t, "go.mod"))
	require.NotNil(t, goDirective, "go.mod go directive")
	from := regexp.MustCompile(`(?mi)^FROM\s+golang:(\d+)\.(\d+)\S*\s+AS\s+(\w+)`).FindStringSubmatch(dockerfile)
	require.NotNil(t, from, "Dockerfile build stage FROM golang:<major>.<minor>… AS <stage>")
	assert.Equal(t, goDirective[1]+"."+goDirective[2], from[1]+"."+from[2],
		"build-stage Go version must match go.mod's go directive")
	stage := from[3]

	build := regexp.MustCompile(`CGO_ENABLED=1 go build [^\n]*-o (\S+) \./cmd/connector`).FindStringSubmatch(dockerfile)
	require.NotNil(t, build, "Dockerfile must build ./cmd/connector with cgo")
	cp := regexp.MustCompile(`(?m)^COPY --from=` + regexp.QuoteMeta(stage) + ` (\S+) (\S+)\s*$`).FindStringSubmatch(dockerfile)
	require.NotNil(t, cp, "Dockerfile must copy the binary out of the %s stage", stage)
	assert.Equal(t, build[1], cp[1], "the runtime stage must copy the binary the build stage wrote")
	entry := regexp.MustCompile(`(?m)^ENTRYPOINT \["([^"]+)"\]\s*$`).FindStringSubmatch(dockerfile)
	require.NotNil(t, entry, "Dockerfile ENTRYPOINT")
	assert.Equal(t, cp[2], entry[1], "ENTRYPOINT must be the copied binary")
	assert.Regexp(t, `(?m)^USER \S+`, dockerfile, "the runtime stage must not run as root")

	_, port, err := net.SplitHostPort(env(t, service(t, p, "api"))["HTTP_ADDR"])
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^EXPOSE `+port+`\b`, dockerfile, "EXPOSE must match HTTP_ADDR")

	// Compose runs the image's entrypoint: either inherited or the same path.
	for name := range connectorRoles {
		s := service(t, p, name)
		if s.Entrypoint != nil {
			assert.Equalf(t, types.ShellCommand{entry[1]}, s.Entrypoint, "service %s entrypoint", name)
		}
	}
}

// TestAPIAndWorkerShareTheMediaStore: the api serves and stores files the
// worker fetches (and the other way round), so both mount one volume at
// MEDIA_DIR, and the image creates that directory for its user.
func TestAPIAndWorkerShareTheMediaStore(t *testing.T) {
	p := project(t)
	var sources []string
	for _, name := range []string{"api", "worker"} {
		s := service(t, p, name)
		dir := env(t, s)["MEDIA_DIR"]
		require.NotEmptyf(t, dir, "service %s sets MEDIA_DIR", name)
		found := ""
		for _, v := range s.Volumes {
			if v.Target == dir {
				found = v.Source
				assert.Equalf(t, "volume", v.Type, "service %s mounts a named volume at MEDIA_DIR", name)
			}
		}
		require.NotEmptyf(t, found, "service %s mounts a volume at MEDIA_DIR %s", name, dir)
		sources = append(sources, found)
	}
	assert.Equal(t, sources[0], sources[1], "api and worker share one media volume")
	dockerfile, err := os.ReadFile(filepath.Join(absRepoRoot(t), "Dockerfile"))
	require.NoError(t, err)
	assert.Contains(t, string(dockerfile), env(t, service(t, p, "api"))["MEDIA_DIR"], "the image creates MEDIA_DIR owned by its user")
}
