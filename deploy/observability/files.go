package observability

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// The files of this directory.
const (
	AlertsFile    = "alerts.yml"
	DashboardFile = "connector-dashboard.json"
	// PrometheusFile is an example configuration: its jobs are the ones the
	// rules and the dashboard match on.
	PrometheusFile = "prometheus.yml"
)

// Query is one PromQL expression of the rules or the dashboard, parsed.
type Query struct {
	// Source names it: "alerts.yml: <alert>" or "connector-dashboard.json:
	// <panel title> <refId>" (variable queries: "variable <name>").
	Source string
	Expr   parser.Expr
	// Labels are labels the query reads beyond its selectors' matchers
	// and groupings: the label of a Grafana label_values variable.
	Labels []string
}

// LoadRules parses path with Prometheus's rule parser, which also parses
// every expr with the PromQL parser and every annotation as a template.
func LoadRules(path string) (*rulefmt.RuleGroups, error) {
	groups, errs := rulefmt.ParseFile(path, false)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return groups, nil
}

// RuleQueries are the expressions of the rules in path.
func RuleQueries(path string) ([]Query, error) {
	groups, err := LoadRules(path)
	if err != nil {
		return nil, err
	}
	var out []Query
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Alert.Value
			if name == "" {
				name = r.Record.Value
			}
			expr, err := parser.ParseExpr(r.Expr.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", filepath.Base(path), name, err)
			}
			out = append(out, Query{Source: filepath.Base(path) + ": " + name, Expr: expr})
		}
	}
	return out, nil
}

// Dashboard is the part of a Grafana dashboard's JSON model these checks
// read.
type Dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []Panel `json:"panels"`
	Templating    struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// DataSourceRef is a panel's, a target's or a variable's data source.
type DataSourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Panel is a dashboard panel; a row holds its collapsed panels in Panels.
type Panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	DataSource  *DataSourceRef `json:"datasource"`
	GridPos     struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []Target `json:"targets"`
	Panels  []Panel  `json:"panels"`
}

// Target is a panel's query.
type Target struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	DataSource *DataSourceRef `json:"datasource"`
}

// Variable is a template variable. Query variables carry their query in
// Definition (the query object's text is the same).
type Variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	DataSource *DataSourceRef  `json:"datasource"`
}

// LoadDashboard reads a dashboard's JSON model.
func LoadDashboard(path string) (*Dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return &d, nil
}

// AllPanels are the dashboard's panels, those inside collapsed rows
// included, rows excluded.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			if p.Type != "row" {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// grafanaVar is a Grafana variable in a query: $name, ${name} or
// ${name:format}.
var grafanaVar = regexp.MustCompile(`\$(?:\{(\w+)(?::\w+)?\}|(\w+))`)

// expandVariables makes a panel query plain PromQL: Grafana's interval
// variables ($__rate_interval, $__interval, $__range) become a duration,
// the dashboard's own variables (used inside =~ matchers) match anything.
func expandVariables(q string) string {
	return grafanaVar.ReplaceAllStringFunc(q, func(v string) string {
		m := grafanaVar.FindStringSubmatch(v)
		if name := m[1] + m[2]; strings.HasPrefix(name, "__") {
			return "5m"
		}
		return ".*"
	})
}

// labelValues is Grafana's Prometheus variable query label_values(selector,
// label).
var labelValues = regexp.MustCompile(`^\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*$`)

// Queries are the dashboard's panel targets and query variables, parsed.
// A variable query other than label_values(selector, label) is an error:
// its series would escape the checks.
func (d *Dashboard) Queries() ([]Query, error) {
	var out []Query
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			src := fmt.Sprintf("%s: %s %s", DashboardFile, p.Title, t.RefID)
			expr, err := parser.ParseExpr(expandVariables(t.Expr))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", src, err)
			}
			out = append(out, Query{Source: src, Expr: expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		src := fmt.Sprintf("%s: variable %s", DashboardFile, v.Name)
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			return nil, fmt.Errorf("%s: %q is not label_values(selector, label)", src, v.Definition)
		}
		expr, err := parser.ParseExpr(expandVariables(m[1]))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		out = append(out, Query{Source: src, Expr: expr, Labels: []string{m[2]}})
	}
	return out, nil
}

// Queries are every query of the rules and the dashboard in dir.
func Queries(dir string) ([]Query, error) {
	rules, err := RuleQueries(filepath.Join(dir, AlertsFile))
	if err != nil {
		return nil, err
	}
	d, err := LoadDashboard(filepath.Join(dir, DashboardFile))
	if err != nil {
		return nil, err
	}
	panels, err := d.Queries()
	if err != nil {
		return nil, err
	}
	return append(rules, panels...), nil
}
