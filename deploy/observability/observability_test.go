package observability_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/xcally-connector/connector/deploy/observability"
)

const operatingDoc = "../../docs/operating.md"

// anchors are the GitHub anchors of a Markdown file's headings.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	out := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		out[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(title), ""), " ", "-")] = true
	}
	return out
}

func TestAlertRules(t *testing.T) {
	groups, err := observability.LoadRules(observability.AlertsFile)
	require.NoError(t, err, "Prometheus's rule parser accepts alerts.yml")
	docAnchors := anchors(t, operatingDoc)
	seen := map[string]bool{}
	for _, g := range groups.Groups {
		require.NotEmpty(t, g.Rules, "group %s", g.Name)
		for _, r := range g.Rules {
			name := r.Alert.Value
			require.NotEmpty(t, name, "group %s holds alerts only", g.Name)
			assert.False(t, seen[name], "%s is defined once", name)
			seen[name] = true
			assert.GreaterOrEqual(t, time.Duration(r.For), time.Minute, "%s waits before it fires (for:)", name)
			assert.Contains(t, []string{"warning", "critical"}, r.Labels["severity"], "%s has a severity", name)
			for _, a := range []string{"summary", "description", "runbook_url"} {
				assert.NotEmpty(t, r.Annotations[a], "%s has a %s", name, a)
			}
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], "docs/operating.md#")
			if assert.True(t, ok, "%s's runbook is in docs/operating.md", name) {
				assert.True(t, docAnchors[anchor], "%s's runbook anchor #%s is a heading of docs/operating.md", name, anchor)
			}
		}
	}
	// What the rules must keep watching.
	for _, name := range []string{
		"ConnectorWebhookUnavailable", "ConnectorWebhookErrors", "ConnectorSendFailuresPermanent",
		"ConnectorSendFailuresRetryable", "ConnectorPolicyStreak", "ConnectorQueueWaitHigh",
		"ConnectorWorkflowTaskScheduleToStartHigh", "ConnectorActivityTaskScheduleToStartHigh",
		"ConnectorTaskQueueBacklog", "ConnectorWorkerDown", "ConnectorWorkerAbsent",
		"ConnectorMediaDiskLow", "ConnectorMediaDiskFull", "ConnectorRetentionNotRunning",
	} {
		assert.True(t, seen[name], "alerts.yml has %s", name)
	}
	// Every alert is told in "Dashboards and alerts".
	doc, err := os.ReadFile(operatingDoc)
	require.NoError(t, err)
	for name := range seen {
		assert.Contains(t, string(doc), name, "docs/operating.md tells what %s means", name)
	}
}

func TestAlertRulesRefuseABrokenExpression(t *testing.T) {
	b, err := os.ReadFile(observability.AlertsFile)
	require.NoError(t, err)
	broken := strings.Replace(string(b), "> 0.05", "> > 0.05", 1)
	require.NotEqual(t, string(b), broken)
	path := filepath.Join(t.TempDir(), "alerts.yml")
	require.NoError(t, os.WriteFile(path, []byte(broken), 0o600))
	_, err = observability.LoadRules(path)
	assert.ErrorContains(t, err, "ConnectorWebhookErrors")
}

func loadDashboard(t *testing.T) *observability.Dashboard {
	t.Helper()
	d, err := observability.LoadDashboard(observability.DashboardFile)
	require.NoError(t, err)
	return d
}

func TestDashboardShape(t *testing.T) {
	d := loadDashboard(t)
	assert.NotEmpty(t, d.Title)
	assert.NotEmpty(t, d.UID)
	assert.Positive(t, d.SchemaVersion)

	vars := map[string]observability.Variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	ds, ok := vars["datasource"]
	require.True(t, ok, "a ${datasource} variable")
	assert.Equal(t, "datasource", ds.Type)
	assert.JSONEq(t, `"prometheus"`, string(ds.Query))
	for _, name := range []string{"instance", "account", "queue"} {
		v, ok := vars[name]
		if !assert.True(t, ok, "a $%s variable", name) {
			continue
		}
		assert.Equal(t, "query", v.Type)
		require.NotNil(t, v.DataSource)
		assert.Equal(t, "${datasource}", v.DataSource.UID)
		var q struct{ Query string }
		require.NoError(t, json.Unmarshal(v.Query, &q))
		assert.Equal(t, v.Definition, q.Query, "$%s: the query and its definition agree", name)
	}

	ids := map[int]bool{}
	var all []observability.Panel
	var walk func([]observability.Panel)
	walk = func(ps []observability.Panel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	// cells marks the grid's 1x1 cells a panel covers.
	cells := map[[2]int]string{}
	for _, p := range all {
		assert.False(t, ids[p.ID], "panel id %d is unique", p.ID)
		ids[p.ID] = true
		assert.NotEmpty(t, p.Title, "panel %d has a title", p.ID)
		g := p.GridPos
		assert.True(t, g.W > 0 && g.H > 0 && g.X >= 0 && g.X+g.W <= 24, "%s fits the 24 columns", p.Title)
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, taken := cells[[2]int{x, y}]; taken {
					t.Errorf("%s overlaps %s at (%d,%d)", p.Title, other, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		assert.NotEmpty(t, p.Description, "%s says what it shows", p.Title)
		require.NotNil(t, p.DataSource, p.Title)
		assert.Equal(t, "${datasource}", p.DataSource.UID, "%s queries the chosen data source", p.Title)
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			require.NotNil(t, tg.DataSource, p.Title)
			assert.Equal(t, "${datasource}", tg.DataSource.UID, "%s %s", p.Title, tg.RefID)
		}
	}
}

func TestDashboardQueriesParse(t *testing.T) {
	qs, err := loadDashboard(t).Queries()
	require.NoError(t, err, "every panel and variable query is PromQL")
	assert.Greater(t, len(qs), 30)

	// A broken panel query fails.
	b, err := os.ReadFile(observability.DashboardFile)
	require.NoError(t, err)
	broken := strings.Replace(string(b), "sum by (outcome) (rate(", "sum by (outcome) (rate((", 1)
	require.NotEqual(t, string(b), broken)
	path := filepath.Join(t.TempDir(), observability.DashboardFile)
	require.NoError(t, os.WriteFile(path, []byte(broken), 0o600))
	d, err := observability.LoadDashboard(path)
	require.NoError(t, err)
	_, err = d.Queries()
	assert.ErrorContains(t, err, "Webhook callbacks by outcome A")
}

func parse(t *testing.T, source, q string) observability.Query {
	t.Helper()
	e, err := parser.ParseExpr(q)
	require.NoError(t, err)
	return observability.Query{Source: source, Expr: e}
}

func TestUsesFollowNamesMatchersAndGroupings(t *testing.T) {
	uses, err := observability.Uses([]observability.Query{
		parse(t, "a", `histogram_quantile(0.9, sum by (le, queue_id) (rate(connector_queue_wait_seconds_bucket{instance=~".*"}[5m])))`),
		parse(t, "b", `max by (task_queue) (connector_task_queue_backlog) > 0 and on (task_queue, type) connector_task_queue_backlog_age_seconds`),
		parse(t, "c", `{__name__="connector_sends_total", status="failed"} or absent(up{job=~"connector-api|connector-worker"})`),
		parse(t, "d", `sum without (code) (connector_sends_total)`),
	})
	require.NoError(t, err)
	assert.Equal(t, []observability.Use{
		{Metric: "connector_queue_wait_seconds_bucket", Labels: []string{"instance", "le", "queue_id"}, Sources: []string{"a"}},
		{Metric: "connector_sends_total", Labels: []string{"status"}, Sources: []string{"c", "d"}},
		{Metric: "connector_task_queue_backlog", Labels: []string{"task_queue", "type"}, Sources: []string{"b"}},
		{Metric: "connector_task_queue_backlog_age_seconds", Labels: []string{"task_queue", "type"}, Sources: []string{"b"}},
		{Metric: "up", Labels: []string{"job"}, Jobs: []string{"connector-api", "connector-worker"}, Sources: []string{"c"}},
	}, uses)

	_, err = observability.Uses([]observability.Query{parse(t, "e", `{__name__=~"connector_.+"}`)})
	assert.ErrorContains(t, err, "e: selector")
}

const exposition = `# HELP connector_sends_total Outbound messages.
# TYPE connector_sends_total counter
connector_sends_total{error_class="none",status="accepted"} 1
# HELP connector_queue_wait_seconds Queue wait.
# TYPE connector_queue_wait_seconds histogram
connector_queue_wait_seconds_bucket{queue_id="1",le="1"} 0
connector_queue_wait_seconds_bucket{queue_id="1",le="+Inf"} 1
connector_queue_wait_seconds_sum{queue_id="1"} 3
connector_queue_wait_seconds_count{queue_id="1"} 1
# HELP connector_media_free_bytes Free bytes.
# TYPE connector_media_free_bytes gauge
connector_media_free_bytes 1e+09
`

func TestMissingNamesRenamedMetricsAndLabels(t *testing.T) {
	exported, err := observability.Exported(strings.NewReader(exposition))
	require.NoError(t, err)
	assert.True(t, exported["connector_queue_wait_seconds_bucket"]["le"])
	assert.True(t, exported["connector_queue_wait_seconds_count"]["queue_id"])
	assert.Contains(t, exported, "connector_queue_wait_seconds_sum")

	uses, err := observability.Uses([]observability.Query{
		parse(t, "ok", `histogram_quantile(0.9, sum by (le, queue_id) (rate(connector_queue_wait_seconds_bucket[5m]))) and on () up{job="connector-worker"} == 1`),
		parse(t, "ok too", `connector_media_free_bytes{instance=~".*"} < 2 * connector_queue_wait_seconds_count`),
		parse(t, "renamed metric", `sum(rate(connector_sends_count[5m]))`),
		parse(t, "renamed label", `sum by (class) (rate(connector_sends_total{status="failed"}[5m]))`),
	})
	require.NoError(t, err)
	assert.Equal(t, []string{
		"connector_sends_count is not exported (read by renamed metric)",
		"connector_sends_total has no label class (read by renamed label)",
	}, observability.Missing(uses, exported))
}

// The rules and the dashboard read no series through an exception they do
// not need, and every exception is still read somewhere.
func TestExceptionsAreUsed(t *testing.T) {
	qs, err := observability.Queries(".")
	require.NoError(t, err)
	uses, err := observability.Uses(qs)
	require.NoError(t, err)
	used := map[string]bool{}
	for _, u := range uses {
		used[u.Metric] = true
	}
	for name, reason := range observability.NotExported {
		assert.NotEmpty(t, reason)
		assert.True(t, used[name], "exception %s is read by a rule or a panel", name)
	}
}

// prometheus.yml loads the rules, and scrapes every job they match on.
func TestPrometheusConfig(t *testing.T) {
	b, err := os.ReadFile(observability.PrometheusFile)
	require.NoError(t, err)
	var cfg struct {
		Global struct {
			ScrapeInterval model.Duration `yaml:"scrape_interval"`
		} `yaml:"global"`
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal(b, &cfg))
	assert.Positive(t, cfg.Global.ScrapeInterval)
	assert.Contains(t, cfg.RuleFiles, observability.AlertsFile)
	jobs := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		jobs[sc.JobName] = true
		assert.NotEmpty(t, sc.StaticConfigs, sc.JobName)
	}

	qs, err := observability.Queries(".")
	require.NoError(t, err)
	uses, err := observability.Uses(qs)
	require.NoError(t, err)
	matched := 0
	for _, u := range uses {
		for _, j := range u.Jobs {
			matched++
			assert.True(t, jobs[j], "job %q (read by %v) is scraped by prometheus.yml", j, u.Sources)
		}
	}
	assert.Positive(t, matched, "the rules match the worker's job")
}
