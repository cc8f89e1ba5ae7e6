package validate

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
)

// dashboardFile is the Grafana dashboard, the one copy: components/monitoring's ConfigMap is generated from it.
var dashboardFile = filepath.Join(repoRoot, "deploy", "grafana", "facefleet.json")

// dashboardConfigMap is the ConfigMap Grafana's sidecar loads the dashboard from.
const dashboardConfigMap = "facefleet-grafana-dashboard"

// metricsPath is the path pkg/metrics serves, read from its source.
func metricsPath(t reporter) string {
	consts, err := StringConsts(filepath.Join(repoRoot, "pkg", "metrics", "metrics.go"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		t.Logf("pkg/metrics not in this tree yet: the agreed path /metrics")
		return "/metrics"
	case err != nil:
		t.Fatal(err)
	}
	return consts["Path"]
}

// daemon is a pod template that serves /metrics, with its container's --http-addr port.
type daemon struct {
	owner string
	pod   *corev1.PodTemplateSpec
	c     *corev1.Container
	port  int
}

func daemons(t reporter, m *manifest) (coordinator, worker daemon) {
	t.Helper()
	get := func(owner, path string) daemon {
		pod, c, r := container(t, m, owner, path)
		_, p, err := net.SplitHostPort(r.vals["http-addr"])
		port, err2 := strconv.Atoi(p)
		if err != nil || err2 != nil {
			t.Fatalf("%s: --http-addr %q: no port", owner, r.vals["http-addr"])
		}
		return daemon{owner, pod, c, port}
	}
	return get("StatefulSet facefleet-coordinator", "coordinator serve"), get("Deployment facefleet-worker", "worker")
}

// containerPort is the number of c's port named name, or -1.
func containerPort(c *corev1.Container, name string) int {
	for _, p := range c.Ports {
		if p.Name == name {
			return int(p.ContainerPort)
		}
	}
	return -1
}

// TestScrapeAnnotations: the coordinator's and workers' pods tell a Prometheus that discovers pods to scrape the
// path pkg/metrics serves on their --http-addr port.
func TestScrapeAnnotations(t *testing.T) { forOverlays(t, checkScrapeAnnotations) }

func checkScrapeAnnotations(t reporter, m *manifest, o overlay) {
	path := metricsPath(t)
	coord, worker := daemons(t, m)
	for _, d := range []daemon{coord, worker} {
		want := map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": strconv.Itoa(d.port), "prometheus.io/path": path}
		for k, v := range want {
			if got := d.pod.Annotations[k]; got != v {
				t.Errorf("%s: pod annotation %s = %q, want %q (--http-addr, pkg/metrics)", d.owner, k, got, v)
			}
		}
	}
}

var (
	monitoredMu sync.Mutex
	monitored   = map[string]*manifest{}
)

// loadMonitored builds an overlay with components/monitoring added to it, as docs/DEPLOY.md says, in a copy of the
// tree; once per test binary.
func loadMonitored(t *testing.T, name string) *manifest {
	t.Helper()
	monitoredMu.Lock()
	defer monitoredMu.Unlock()
	if m, ok := monitored[name]; ok {
		return m
	}
	root := t.TempDir()
	copyTree(t, root)
	m := buildMonitored(t, root, name)
	monitored[name] = m
	return m
}

// buildMonitored adds components/monitoring to the overlay name of the tree at root and builds it.
func buildMonitored(t reporter, root, name string) *manifest {
	t.Helper()
	k := filepath.Join(root, "deploy", "k8s", "overlays", name, "kustomization.yaml")
	b, err := os.ReadFile(k)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, "components:\n- ../../components/monitoring\n"...)
	if err := os.WriteFile(k, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return buildOverlay(t, filepath.Dir(k), filepath.Join(root, "docs", "DEPLOY.md"))
}

func forMonitored(t *testing.T, check func(reporter, *manifest, overlay)) {
	for _, o := range overlays {
		t.Run(o.name, func(t *testing.T) { check(t, loadMonitored(t, o.name), o) })
	}
}

// TestMonitoringComponent: each overlay with components/monitoring builds, decodes strictly (the ServiceMonitor and
// PodMonitor into the Prometheus operator's types), passes the overlay checks, and holds what it held before.
func TestMonitoringComponent(t *testing.T) {
	forMonitored(t, checkOverlaysDecodeStrictly)
	forMonitored(t, checkProbesAndPorts)
	forMonitored(t, checkNetworkPolicies)
	forMonitored(t, func(t reporter, m *manifest, o overlay) {
		plain := load(t, o.name)
		for _, obj := range plain.objs {
			if !slices.ContainsFunc(m.objs, func(x Object) bool { return x.Kind == obj.Kind && x.Name == obj.Name }) {
				t.Errorf("%s %s is gone with the component", obj.Kind, obj.Name)
			}
		}
		if len(m.objs) != len(plain.objs)+3 {
			t.Errorf("%d objects, want the overlay's %d and a ServiceMonitor, a PodMonitor and a ConfigMap", len(m.objs), len(plain.objs))
		}
	})
}

// TestMonitors: the ServiceMonitor scrapes the coordinators through their Service, the PodMonitor the workers (and
// only them), both on the --http-addr port at pkg/metrics' path, in the namespace they are in; the dashboard's
// ConfigMap carries the sidecar's label.
func TestMonitors(t *testing.T) { forMonitored(t, checkMonitors) }

func checkMonitors(t reporter, m *manifest, o overlay) {
	path := metricsPath(t)
	coord, worker := daemons(t, m)
	sameNamespace := func(what string, ns string, sel monitoringv1.NamespaceSelector) {
		if ns != namespace || sel.Any || len(sel.MatchNames) > 0 && !slices.Equal(sel.MatchNames, []string{namespace}) {
			t.Errorf("%s: in namespace %q selecting %+v, want its own namespace %q", what, ns, sel, namespace)
		}
	}
	sms := all[monitoringv1.ServiceMonitor](m)
	if len(sms) != 1 {
		t.Fatalf("%d ServiceMonitors, want 1 (the coordinators')", len(sms))
	}
	sm := sms[0]
	what := "ServiceMonitor " + sm.Name
	sameNamespace(what, sm.Namespace, sm.Spec.NamespaceSelector)
	var svc *corev1.Service
	for _, s := range all[corev1.Service](m) {
		if matches(&sm.Spec.Selector, s.Labels) {
			if svc != nil {
				t.Errorf("%s selects Services %s and %s", what, svc.Name, s.Name)
			}
			svc = s
		}
	}
	if svc == nil || !matchesLabels(svc.Spec.Selector, coord.pod.Labels) {
		t.Fatalf("%s selects no Service of the coordinator pods", what)
	}
	if len(sm.Spec.Endpoints) == 0 {
		t.Errorf("%s: no endpoints", what)
	}
	for _, ep := range sm.Spec.Endpoints {
		target := -1
		for _, sp := range svc.Spec.Ports {
			if sp.Name == ep.Port && ep.Port != "" {
				target = sp.TargetPort.IntValue()
				if sp.TargetPort.IntValue() == 0 {
					target = containerPort(coord.c, sp.TargetPort.StrVal)
				}
			}
		}
		if target != coord.port || ep.Path != path || ep.Scheme != nil && *ep.Scheme != "http" {
			t.Errorf("%s: port %q (container port %d) path %q, want the coordinator's --http-addr port %d and %s",
				what, ep.Port, target, ep.Path, coord.port, path)
		}
	}
	pms := all[monitoringv1.PodMonitor](m)
	if len(pms) != 1 {
		t.Fatalf("%d PodMonitors, want 1 (the workers')", len(pms))
	}
	pm := pms[0]
	what = "PodMonitor " + pm.Name
	sameNamespace(what, pm.Namespace, pm.Spec.NamespaceSelector)
	if !matches(&pm.Spec.Selector, worker.pod.Labels) || matches(&pm.Spec.Selector, coord.pod.Labels) {
		t.Errorf("%s: selector %v, want the worker pods and not the coordinators (scraped through their Service)", what, pm.Spec.Selector)
	}
	if len(pm.Spec.PodMetricsEndpoints) == 0 {
		t.Errorf("%s: no endpoints", what)
	}
	for _, ep := range pm.Spec.PodMetricsEndpoints {
		port := -1
		if ep.Port != nil {
			port = containerPort(worker.c, *ep.Port)
		}
		if port != worker.port || ep.Path != path {
			t.Errorf("%s: port %s (container port %d) path %q, want the worker's --http-addr port %d and %s",
				what, ptr(ep.Port), port, ep.Path, worker.port, path)
		}
	}
	cm := one[corev1.ConfigMap](t, m, "ConfigMap", dashboardConfigMap)
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("ConfigMap %s: label grafana_dashboard = %q, want \"1\" (Grafana's sidecar)", cm.Name, cm.Labels["grafana_dashboard"])
	}
	var d Dashboard
	if err := json.Unmarshal([]byte(cm.Data["facefleet.json"]), &d); err != nil || d.UID == "" {
		t.Errorf("ConfigMap %s: facefleet.json: %v, uid %q: not the dashboard", cm.Name, err, d.UID)
	}
}

// TestGrafanaDashboard: deploy/grafana/facefleet.json reads from the ${DS_PROMETHEUS} variable in every panel and
// query, every panel has a title, every query is PromQL over the agreed metrics and their labels or the scrape's
// (Dashboard.Check), and every agreed metric is shown.
func TestGrafanaDashboard(t *testing.T) {
	d, err := ReadDashboard(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want a uid, a title and a schema of Grafana 9.4 or later", d.UID, d.Title, d.SchemaVersion)
	}
	used, err := d.Check()
	if err != nil {
		t.Errorf("%s:\n%v", dashboardFile, err)
	}
	if unused := Unused(used); len(unused) > 0 {
		t.Errorf("%s shows none of %v", dashboardFile, unused)
	}
}

// TestPromQLChecksCatch holds CheckExpr and Expand to their word: each expression below is refused with the error
// given, and the good ones pass.
func TestPromQLChecksCatch(t *testing.T) {
	vars := []string{"namespace", "worker"}
	cases := []struct {
		name, expr string
		want       error // nil: passes
		wantText   string
	}{
		{"a gauge", `facefleet_memory_rss_bytes{pod=~"$worker"}`, nil, ""},
		{"a histogram's quantile", `histogram_quantile(0.9, sum by (le) (rate(facefleet_segment_seconds_bucket[$__rate_interval])))`, nil, ""},
		{"a ratio by pod", `max by (pod) (facefleet_memory_rss_bytes / on (pod, instance) facefleet_memory_budget_bytes)`, nil, ""},
		{"its own label", `sum by (result) (rate(facefleet_worker_segments_total[5m]))`, nil, ""},
		{"a misspelt metric", `facefleet_memory_rss_byte`, ErrUnknownMetric, "facefleet_memory_rss_byte"},
		{"a metric of no one", `up{job="facefleet"}`, ErrUnknownMetric, "up"},
		{"a histogram without its suffix", `rate(facefleet_segment_seconds[5m])`, ErrUnknownMetric, ""},
		{"a job id as label", `sum by (job_id) (facefleet_jobs)`, ErrUnknownLabel, `"job_id"`},
		{"another metric's label", `sum by (state) (rate(facefleet_worker_segments_total[5m]))`, ErrUnknownLabel, `"state"`},
		{"le on a counter", `sum by (le) (rate(facefleet_frames_processed_total[5m]))`, ErrUnknownLabel, `"le"`},
		{"a counter's raw value", `sum(facefleet_segments_failed_total)`, ErrRate, "facefleet_segments_failed_total"},
		{"a gauge's rate", `rate(facefleet_queue_pending_tasks[5m])`, ErrRate, "facefleet_queue_pending_tasks"},
		{"a bucket without rate", `histogram_quantile(0.9, facefleet_stitch_seconds_bucket)`, ErrRate, ""},
		{"an undefined variable", `facefleet_batch_size{pod=~"$pods"}`, ErrVariable, "$pods"},
		{"bad syntax", `sum by (pod (facefleet_batch_size)`, nil, "unexpected"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x, err := Expand(c.expr, vars)
			if err == nil {
				_, err = CheckExpr(x)
			}
			switch {
			case c.want == nil && c.wantText == "":
				if err != nil {
					t.Fatalf("%s: %v", c.expr, err)
				}
			case err == nil:
				t.Fatalf("%s: passed, want %v %q", c.expr, c.want, c.wantText)
			case c.want != nil && !errors.Is(err, c.want), !strings.Contains(err.Error(), c.wantText):
				t.Fatalf("%s: %v, want %v %q", c.expr, err, c.want, c.wantText)
			}
		})
	}
}

// TestDashboardChecksCatch: each mistake below, made in a copy of the dashboard (the first occurrence of old
// replaced), is reported by Dashboard.Check with the words given.
func TestDashboardChecksCatch(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, old, new, want string }{
		{"a panel without a data source", `"datasource": {
        "type": "prometheus",
        "uid": "${DS_PROMETHEUS}"
      },
      "gridPos"`, `"gridPos"`, `datasource <nil>`},
		{"a fixed data source", `"uid": "${DS_PROMETHEUS}"`, `"uid": "P1809F7CD0C75ACF3"`, "want prometheus ${DS_PROMETHEUS}"},
		{"no data source variable", `"name": "DS_PROMETHEUS"`, `"name": "DS"`, "no templating variable DS_PROMETHEUS"},
		{"a panel without a title", `"title": "Workers"`, `"title": ""`, "no title"},
		{"a metric of no one", `facefleet_worker_frames_per_second{`, `facefleet_worker_fps{`, "facefleet_worker_fps: not an agreed metric"},
		{"a job id", `max by (state) (facefleet_jobs`, `max by (state, job_id) (facefleet_jobs`, `label "job_id"`},
		{"a variable query on another label", `namespace=~\"$namespace\"}, pod)`, `namespace=~\"$namespace\"}, job_id)`, `variable worker`},
		{"an id twice", `"id": 3,`, `"id": 2,`, "id used twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := string(b)
			if !strings.Contains(s, c.old) {
				t.Fatalf("the dashboard has no %q: the case is out of date", c.old)
			}
			var d Dashboard
			if err := json.Unmarshal([]byte(strings.Replace(s, c.old, c.new, 1)), &d); err != nil {
				t.Fatal(err)
			}
			_, err := d.Check()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a report containing %q", err, c.want)
			}
		})
	}
}

// TestMonitoringChecksCatch: each mistake below, made in a copy of the tree, is reported by the check named when the
// overlay is built with components/monitoring.
func TestMonitoringChecksCatch(t *testing.T) {
	cases := []struct {
		name, overlay, file, old, new string
		check                         func(reporter, *manifest, overlay)
		want                          string
	}{
		{"an unknown ServiceMonitor field", "local", "deploy/k8s/components/monitoring/monitors.yaml", "  endpoints:", "  endpoint:",
			checkOverlaysDecodeStrictly, `unknown field "spec.endpoint"`},
		{"an unknown PodMonitor field", "gpu", "deploy/k8s/components/monitoring/monitors.yaml", "  podMetricsEndpoints:", "  podMetricEndpoints:",
			checkOverlaysDecodeStrictly, `unknown field "spec.podMetricEndpoints"`},
		{"a path nothing serves", "gpu", "deploy/k8s/components/monitoring/monitors.yaml", "path: /metrics", "path: /metric",
			checkMonitors, `path "/metric"`},
		{"a port of another name", "local", "deploy/k8s/components/monitoring/monitors.yaml", "- port: http", "- port: metrics",
			checkMonitors, `port "metrics" (container port -1)`},
		{"the PodMonitor on every pod", "gpu", "deploy/k8s/components/monitoring/monitors.yaml", "      app.kubernetes.io/component: worker\n  podMetricsEndpoints", "  podMetricsEndpoints",
			checkMonitors, "want the worker pods and not the coordinators"},
		{"no sidecar label", "local", "deploy/grafana/kustomization.yaml", `grafana_dashboard: "1"`, `grafana_dashboard: "true"`,
			checkMonitors, `label grafana_dashboard = "true"`},
		{"an annotation on another port", "local", "deploy/k8s/base/worker.yaml", `prometheus.io/port: "8080"`, `prometheus.io/port: "9090"`,
			checkScrapeAnnotations, `prometheus.io/port = "9090", want "8080"`},
		{"no scrape annotation", "gpu", "deploy/k8s/base/coordinator.yaml", `prometheus.io/scrape: "true"`, `prometheus.io/scrap: "true"`,
			checkScrapeAnnotations, `prometheus.io/scrape = "", want "true"`},
		{"Prometheus shut out", "gpu", "deploy/k8s/base/networkpolicy.yaml", "kubernetes.io/metadata.name: monitoring", "kubernetes.io/metadata.name: prometheus",
			checkNetworkPolicies, "prometheus -> Deployment facefleet-worker:8080: allowed false, want true"},
		{"any namespace scraping", "local", "deploy/k8s/base/networkpolicy.yaml", "    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: monitoring\n", "    - namespaceSelector: {}\n",
			checkNetworkPolicies, "elsewhere -> StatefulSet facefleet-coordinator:8080: allowed true, want false"},
	}
	var ov = map[string]overlay{}
	for _, o := range overlays {
		ov[o.name] = o
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := mutatedCopy(t, c.file, c.old, c.new)
			var rec recorder
			rec.run(func() { c.check(&rec, buildMonitored(&rec, dir, c.overlay), ov[c.overlay]) })
			wantReport(t, rec, c.want)
		})
	}
}

// TestDocumentedAlerts: the alert expressions docs/DEPLOY.md suggests (its Monitoring section's `expr:` lines) pass
// the dashboard's checks: agreed metrics, their labels, counters through a rate.
func TestDocumentedAlerts(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "DEPLOY.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "## 9. Monitoring")
	if !ok {
		t.Fatal("docs/DEPLOY.md has no section 9. Monitoring")
	}
	n := 0
	for _, line := range strings.Split(section, "\n") {
		expr, ok := strings.CutPrefix(strings.TrimSpace(line), "expr: ")
		if !ok {
			continue
		}
		n++
		if _, err := CheckExpr(expr); err != nil {
			t.Errorf("docs/DEPLOY.md: %s: %v", expr, err)
		}
	}
	if n < 3 {
		t.Errorf("docs/DEPLOY.md, Monitoring: %d alert expressions, want those for queue age, memory alerts and failed segments", n)
	}
}

// TestAgreedMetricsInCode: every agreed metric and label the dashboard relies on is named in pkg/metrics' source
// (as "name", "_name" after the namespace, or whole), so a metric renamed in the code fails here rather than
// leaving a panel empty.
func TestAgreedMetricsInCode(t *testing.T) {
	dir := filepath.Join(repoRoot, "pkg", "metrics")
	lits, err := StringLiterals(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		t.Logf("pkg/metrics not in this tree yet: the dashboard holds to the agreed list alone")
		return
	case err != nil:
		t.Fatal(err)
	}
	if missing := missingInCode(lits); len(missing) > 0 {
		t.Errorf("pkg/metrics names none of %v (agreed in promql.go, read by the dashboard)", missing)
	}
}

func missingInCode(lits map[string]bool) []string {
	var missing []string
	for _, name := range keys(Metrics) {
		base := strings.TrimPrefix(name, "facefleet_")
		if !lits[name] && !lits[base] && !lits["_"+base] {
			missing = append(missing, name)
		}
		for _, l := range Metrics[name].Labels {
			if !lits[l] {
				missing = append(missing, name+"{"+l+"}")
			}
		}
	}
	return missing
}
