package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
)

// DatasourceVar is the dashboard's Prometheus data source variable: Grafana's import asks for it, and a sidecar-loaded
// copy takes the default Prometheus.
const DatasourceVar = "DS_PROMETHEUS"

// Dashboard is the part of a Grafana dashboard's JSON the checks read.
type Dashboard struct {
	Title         string `json:"title"`
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Panels []Panel `json:"panels"`
}

// Variable is one templating variable.
type Variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"` // a string, or {"query": "..."} for a query variable
	Datasource *Datasource     `json:"datasource"`
}

// Panel is one panel, or a row holding panels.
type Panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *Datasource `json:"datasource"`
	Targets    []Target    `json:"targets"`
	Panels     []Panel     `json:"panels"` // a collapsed row's
}

// Datasource names a data source.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Target is one query of a panel.
type Target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Datasource *Datasource `json:"datasource"`
}

// ReadDashboard reads a dashboard's JSON.
func ReadDashboard(file string) (*Dashboard, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var d Dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &d, nil
}

var labelValues = regexp.MustCompile(`^label_values\((?:(.+),\s*)?([A-Za-z_][A-Za-z0-9_]*)\)$`)

// Check holds the dashboard to the agreed metrics: a Prometheus data source variable; every panel titled and, rows
// aside, reading from that variable, as does each of its queries; every query valid PromQL over agreed metrics
// and labels (CheckExpr), its variables defined. It returns the agreed metrics the dashboard reads.
func (d *Dashboard) Check() (map[string]bool, error) {
	var (
		errs []error
		vars []string
		used = map[string]bool{}
	)
	ds := false
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
		ds = ds || v.Name == DatasourceVar && v.Type == "datasource" && string(v.Query) == `"prometheus"`
	}
	if !ds {
		errs = append(errs, fmt.Errorf("no templating variable %s of type datasource, query prometheus", DatasourceVar))
	}
	ours := func(where string, s *Datasource) {
		if s == nil || s.Type != "prometheus" || s.UID != "${"+DatasourceVar+"}" {
			errs = append(errs, fmt.Errorf("%s: datasource %+v, want prometheus ${%s}", where, s, DatasourceVar))
		}
	}
	query := func(where, expr string) {
		x, err := Expand(expr, vars)
		if err == nil {
			var names []string
			names, err = CheckExpr(x)
			for _, n := range names {
				used[n] = true
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q: %w", where, expr, err))
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		where := "variable " + v.Name
		ours(where, v.Datasource)
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			errs = append(errs, fmt.Errorf("%s: query: %w", where, err))
			continue
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			errs = append(errs, fmt.Errorf("%s: %q is not label_values(selector, label)", where, q.Query))
			continue
		}
		// The label whose values it lists must be one the selector's series carry.
		query(where, fmt.Sprintf("count by (%s) (%s)", m[2], m[1]))
	}
	ids := map[int]bool{}
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if ids[p.ID] {
				errs = append(errs, fmt.Errorf("%s: id used twice", where))
			}
			ids[p.ID] = true
			if p.Title == "" {
				errs = append(errs, fmt.Errorf("%s: no title", where))
			}
			walk(p.Panels)
			if p.Type == "row" { // a row only groups panels: it queries nothing
				continue
			}
			ours(where, p.Datasource)
			if len(p.Targets) == 0 {
				errs = append(errs, fmt.Errorf("%s: no queries", where))
			}
			for _, t := range p.Targets {
				ours(where+" query "+t.RefID, t.Datasource)
				query(where+" query "+t.RefID, t.Expr)
			}
		}
	}
	walk(d.Panels)
	if len(d.Panels) == 0 {
		errs = append(errs, errors.New("no panels"))
	}
	return used, errors.Join(errs...)
}

// Unused are the agreed metrics a dashboard does not read, sorted.
func Unused(used map[string]bool) []string {
	var out []string
	for name := range Metrics {
		if !used[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
