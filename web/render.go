package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// pages are the console's templates: templates/layout.html and
// templates/partials/*.html shared by every page, and one set per page
// file (templates/<area>/<page>.html), named by its path without the
// extension ("signin", "agent/inbox"). A page file defines "title" and
// "content", and may define fragments that htmx requests render alone.
type pages struct {
	sets map[string]*template.Template
}

// coreFuncs are the template functions every page may use; agentFuncs,
// adminConfigFuncs and adminOpsFuncs (agent.go, admin_config.go,
// admin_ops.go) add their areas'.
var coreFuncs = template.FuncMap{
	"dt": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		case *time.Time:
			if v == nil || v.IsZero() {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		return ""
	},
	"iso": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if !v.IsZero() {
				return v.UTC().Format(time.RFC3339)
			}
		case *time.Time:
			if v != nil && !v.IsZero() {
				return v.UTC().Format(time.RFC3339)
			}
		}
		return ""
	},
	// jsonAttr is v as JSON for a data- attribute (html/template escapes
	// it for the attribute; console.js parses it).
	"jsonAttr": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"query": func(kv ...any) string {
		q := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			if v := fmt.Sprint(kv[i+1]); v != "" && v != "0" {
				q.Set(fmt.Sprint(kv[i]), v)
			}
		}
		return q.Encode()
	},
	"add":       func(a, b int) int { return a + b },
	"hasPrefix": strings.HasPrefix,
}

func mustParsePages() *pages {
	p, err := parsePages(templateFS)
	if err != nil {
		panic(err)
	}
	return p
}

func parsePages(fsys fs.FS) (*pages, error) {
	funcs := template.FuncMap{}
	for _, m := range []template.FuncMap{coreFuncs, agentFuncs, adminConfigFuncs, adminOpsFuncs} {
		for k, v := range m {
			if _, dup := funcs[k]; dup {
				return nil, fmt.Errorf("console templates: function %q defined twice", k)
			}
			funcs[k] = v
		}
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(fsys, "templates/layout.html", "templates/partials/*.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	p := &pages{sets: map[string]*template.Template{}}
	err = fs.WalkDir(fsys, "templates", func(file string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(file, ".html") {
			return err
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(file, "templates/"), ".html")
		if rel == "layout" || strings.HasPrefix(rel, "partials/") {
			return nil
		}
		set, err := base.Clone()
		if err != nil {
			return err
		}
		if _, err := set.ParseFS(fsys, file); err != nil {
			return fmt.Errorf("console templates: %s: %w", path.Base(file), err)
		}
		p.sets[rel] = set
		return nil
	})
	return p, err
}

// view is what every page template receives.
type view struct {
	// Admin or AgentID: who is signed in (neither on the sign-in page).
	Admin   bool
	AgentID uint64
	CSRF    string
	// Path is the request's path (the navigation marks the current page).
	Path string
	// TemporalUIURL and Namespace build workflow links (empty: none).
	TemporalUIURL, Namespace string
	Data                     any
}

func (s *Server) viewOf(c echo.Context, data any) view {
	v := view{Path: c.Request().URL.Path, TemporalUIURL: s.deps.TemporalUIURL, Namespace: s.deps.TemporalNamespace, Data: data}
	if sess := sessionOf(c); sess != nil {
		v.Admin, v.AgentID, v.CSRF = sess.Admin, sess.AgentID, sess.CSRF
	}
	return v
}

// render writes a whole page.
func (s *Server) render(c echo.Context, status int, page string, data any) error {
	return s.execute(c, status, page, "layout", data)
}

// fragment writes one named template of a page (an htmx swap).
func (s *Server) fragment(c echo.Context, status int, page, name string, data any) error {
	return s.execute(c, status, page, name, data)
}

func (s *Server) execute(c echo.Context, status int, page, name string, data any) error {
	set := s.pages.sets[page]
	if set == nil {
		return fmt.Errorf("console: no page %q", page)
	}
	var buf bytes.Buffer
	if err := set.ExecuteTemplate(&buf, name, s.viewOf(c, data)); err != nil {
		return fmt.Errorf("console: render %s/%s: %w", page, name, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// problem answers an error the user must see: a page of its own, or, to
// an htmx request, a message swapped into the page's alert area.
func (s *Server) problem(c echo.Context, status int, code, message string) error {
	data := map[string]any{"Status": status, "Code": code, "Message": message}
	if c.Request().Header.Get("HX-Request") != "" {
		c.Response().Header().Set("HX-Retarget", "#flash")
		c.Response().Header().Set("HX-Reswap", "innerHTML")
		return s.fragment(c, status, "problem", "problem-message", data)
	}
	return s.render(c, status, "problem", data)
}

// apiProblem shows an API error's status and message as they are; any
// other error goes to the API's error handler (logged, a 500).
func (s *Server) apiProblem(c echo.Context, err error) error {
	if ae, ok := err.(*apiError); ok {
		return s.problem(c, ae.Status, ae.Code, ae.Message)
	}
	return err
}

// workflowURL is the Temporal UI's page of a workflow ("" without
// TEMPORAL_UI_URL).
func (v view) WorkflowURL(workflowID string) string {
	if v.TemporalUIURL == "" || workflowID == "" {
		return ""
	}
	ns := v.Namespace
	if ns == "" {
		ns = "default"
	}
	return v.TemporalUIURL + "/namespaces/" + url.PathEscape(ns) + "/workflows/" + url.PathEscape(workflowID)
}
