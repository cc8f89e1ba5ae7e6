package validate

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/facefleet/facefleet/pkg/memory"
)

// repoRoot is the Facefleet checkout this module sits in (deploy/k8s/validate).
var repoRoot = filepath.Join("..", "..", "..")

const namespace = "facefleet"

// overlays are the overlays an operator applies, and what each must be.
type overlay struct {
	name        string
	gpu         bool
	workerImage string
	natsServers int32
}

var overlays = []overlay{
	{name: "local", gpu: false, workerImage: "facefleet-worker", natsServers: 1},
	{name: "gpu", gpu: true, workerImage: "facefleet-worker-gpu", natsServers: 3},
}

// Images as agreed for issue 14 (docker/): each with the binary it holds.
var images = map[string]string{
	"facefleet-coordinator": "/usr/local/bin/coordinator",
	"facefleet-worker":      "/usr/local/bin/worker",
	"facefleet-worker-gpu":  "/usr/local/bin/worker",
}

// Commands the manifests run, by binary and subcommand words.
var commands = map[string]bool{
	"coordinator serve":        true,
	"coordinator models fetch": true,
	"worker":                   true,
	"worker drain":             true,
}

// Environment variables the binaries read that are not FACEFLEET_<FLAG> of a flag.
var nonFlagEnv = map[string]bool{"FACEFLEET_ORT_LIB": true, "FACEFLEET_CACHE": true, "FACEFLEET_MODELS": true}

// Shutdown allowances on top of the worker's --grace (docs/DEPLOY.md, Upgrading): a finished segment's piece
// being uploaded when the grace ends (tens of MB), then the hand-back of the rest, the engines closed and the work
// directory removed.
const (
	uploadAllowance = 60 * time.Second
	shutdownMargin  = 30 * time.Second
)

// minSlotBudget is the least memory budget a worker slot is deployed with: a 1080p segment at the default settings
// peaks at 0.45 GB with the default models (docs/BENCHMARKS.md); 1 GiB leaves room for larger targets and models.
const minSlotBudget = 1 << 30

// manifest is one built overlay.
type manifest struct {
	name string
	objs []Object
	doc  string // docs/DEPLOY.md, which creates the Secrets no overlay holds
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*manifest{}
)

// load builds an overlay of this checkout once per test binary.
func load(t reporter, name string) *manifest {
	t.Helper()
	buildsMu.Lock()
	defer buildsMu.Unlock()
	if m, ok := builds[name]; ok {
		return m
	}
	m := buildOverlay(t, filepath.Join("..", "overlays", name), filepath.Join(repoRoot, "docs", "DEPLOY.md"))
	m.name = name
	builds[name] = m
	return m
}

// buildOverlay builds the overlay in dir and decodes it strictly; doc is the DEPLOY.md that goes with it.
func buildOverlay(t reporter, dir, doc string) *manifest {
	t.Helper()
	k, err := Kustomize()
	if err != nil {
		t.Fatal(err)
	}
	out, err := Build(k, dir)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(out)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return &manifest{name: filepath.Base(dir), objs: objs, doc: doc}
}

// reporter is what the checks report through: a *testing.T, or a recorder (TestChecksCatch).
type reporter interface {
	Helper()
	Log(args ...any)
	Logf(format string, args ...any)
	Error(args ...any)
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// forOverlays runs a check on every overlay, one subtest each.
func forOverlays(t *testing.T, check func(reporter, *manifest, overlay)) {
	for _, o := range overlays {
		t.Run(o.name, func(t *testing.T) { check(t, load(t, o.name), o) })
	}
}

func all[T any](m *manifest) []*T {
	var out []*T
	for _, o := range m.objs {
		if v, ok := o.Value.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

func one[T any](t reporter, m *manifest, kind, name string) *T {
	t.Helper()
	for _, o := range m.objs {
		if o.Kind == kind && o.Name == name {
			if v, ok := o.Value.(*T); ok {
				return v
			}
		}
	}
	t.Fatalf("overlay %s: no %s %s", m.name, kind, name)
	return nil
}

// workload is a pod template with what owns it.
type workload struct {
	owner string
	pod   *corev1.PodTemplateSpec
}

func (m *manifest) workloads() []workload {
	var w []workload
	for _, d := range all[appsv1.Deployment](m) {
		w = append(w, workload{"Deployment " + d.Name, &d.Spec.Template})
	}
	for _, s := range all[appsv1.StatefulSet](m) {
		w = append(w, workload{"StatefulSet " + s.Name, &s.Spec.Template})
	}
	return w
}

// imageName is an image reference's repository name without registry, tag or digest.
func imageName(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref[strings.LastIndex(ref, "/")+1:]
}

// facefleetContainers are the containers that run a Facefleet image, init containers included.
func facefleetContainers(pod *corev1.PodTemplateSpec) []*corev1.Container {
	var cs []*corev1.Container
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if strings.HasPrefix(imageName(list[i].Image), "facefleet-") {
				cs = append(cs, &list[i])
			}
		}
	}
	return cs
}

// invocation is a command line split into the command path ("coordinator serve") and its flag arguments.
func invocation(argv []string) (path string, flags []string) {
	words := []string{filepath.Base(argv[0])}
	i := 1
	for ; i < len(argv) && !strings.HasPrefix(argv[i], "-"); i++ {
		words = append(words, argv[i])
	}
	return strings.Join(words, " "), argv[i:]
}

var (
	helpMu sync.Mutex
	helps  = map[string]map[string]Flag{}
)

// binDir holds the binaries `make build` writes ($FACEFLEET_BIN to look elsewhere).
func binDir() string {
	if d := os.Getenv("FACEFLEET_BIN"); d != "" {
		return d
	}
	return filepath.Join(repoRoot, "bin")
}

// flagsOf are the flags a command path defines, from the built binary's --help.
func flagsOf(t reporter, path string) map[string]Flag {
	t.Helper()
	helpMu.Lock()
	defer helpMu.Unlock()
	if f, ok := helps[path]; ok {
		return f
	}
	words := strings.Fields(path)
	bin := filepath.Join(binDir(), words[0])
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%v: run make build first", err)
	}
	out, err := exec.Command(bin, append(words[1:], "--help")...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v: %s", path, err, out)
	}
	flags := map[string]Flag{}
	// cobra prints the parent's help for a subcommand it does not have: only a usage line naming it is its own.
	if regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(path) + `\b`).Match(out) {
		flags = ParseHelp(string(out))
	} else {
		t.Fatalf("%s: the binary has no such command", path)
	}
	helps[path] = flags
	return flags
}

// run is one Facefleet container's command line, checked against its binary.
type run struct {
	path  string
	flags map[string]Flag
	vals  map[string]string // flag -> value, from args and FACEFLEET_* variables (args win, as in pkg/config)
}

// parseRun checks c's command line and FACEFLEET_* environment against the binary its image holds.
func parseRun(t reporter, m *manifest, c *corev1.Container) run {
	t.Helper()
	bin, ok := images[imageName(c.Image)]
	if !ok {
		t.Fatalf("container %s: image %s is none of the agreed names %v", c.Name, c.Image, keys(images))
	}
	argv := append(slices.Clone(c.Command), c.Args...)
	if len(c.Command) != 1 || c.Command[0] != bin {
		t.Fatalf("container %s: command %q, want [%s] (the binary of image %s)", c.Name, c.Command, bin, imageName(c.Image))
	}
	path, args := invocation(argv)
	if !commands[path] {
		t.Fatalf("container %s: runs %q, none of %v", c.Name, path, keys(commands))
	}
	r := run{path: path, flags: flagsOf(t, path)}
	vals, err := ParseArgs(args, r.flags)
	if err != nil {
		t.Fatalf("container %s (%s): %v", c.Name, path, err)
	}
	for name, v := range env(t, m, c) {
		if !strings.HasPrefix(name, "FACEFLEET_") || nonFlagEnv[name] {
			continue
		}
		flag := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "FACEFLEET_"), "_", "-"))
		if _, ok := r.flags[flag]; !ok {
			t.Errorf("container %s (%s): %s is the variable of --%s, which the command does not define", c.Name, path, name, flag)
			continue
		}
		if _, ok := vals[flag]; !ok {
			vals[flag] = v
		}
	}
	// Kubernetes leaves a $(VAR) it cannot resolve as it is: the flag would get the literal text.
	names := env(t, m, c)
	for _, a := range argv {
		for _, ref := range regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).FindAllStringSubmatch(a, -1) {
			if _, ok := names[ref[1]]; !ok {
				t.Errorf("container %s: argument %q refers to $(%s), which its env does not define", c.Name, a, ref[1])
			}
		}
	}
	r.vals = vals
	return r
}

// env is a container's environment: its env entries (value, or "<ref>" for one read from a Secret or the pod) and
// the keys of the ConfigMaps it takes whole.
func env(t reporter, m *manifest, c *corev1.Container) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Fatalf("container %s: envFrom other than a ConfigMap", c.Name)
		}
		cm := one[corev1.ConfigMap](t, m, "ConfigMap", from.ConfigMapRef.Name)
		for k, v := range cm.Data {
			vars[from.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		vars[e.Name] = e.Value
		if e.ValueFrom != nil {
			vars[e.Name] = "<ref>"
		}
	}
	return vars
}

func keys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}

// container finds the one container of a workload that runs path.
func container(t reporter, m *manifest, owner, path string) (*corev1.PodTemplateSpec, *corev1.Container, run) {
	t.Helper()
	for _, w := range m.workloads() {
		if w.owner != owner {
			continue
		}
		for _, c := range w.pod.Spec.Containers {
			if strings.HasPrefix(imageName(c.Image), "facefleet-") {
				if r := parseRun(t, m, &c); r.path == path {
					return w.pod, &c, r
				}
			}
		}
	}
	t.Fatalf("overlay %s: %s runs no %q container", m.name, owner, path)
	return nil, nil, run{}
}

// TestOverlaysDecodeStrictly builds every overlay offline and decodes each object into its API type with unknown
// fields refused; KEDA's own checks of a ScaledObject pass; every namespaced object is in the facefleet namespace.
func TestOverlaysDecodeStrictly(t *testing.T) { forOverlays(t, checkOverlaysDecodeStrictly) }

func checkOverlaysDecodeStrictly(t reporter, m *manifest, o overlay) {
	seen := map[string]bool{}
	for _, obj := range m.objs {
		id := obj.Kind + "/" + obj.Name
		if seen[id] {
			t.Errorf("%s twice", id)
		}
		seen[id] = true
		if obj.Kind != "Namespace" && obj.Namespace != namespace {
			t.Errorf("%s: namespace %q, want %q", id, obj.Namespace, namespace)
		}
	}
	for _, so := range all[kedav1alpha1.ScaledObject](m) {
		for _, err := range []error{kedav1alpha1.ValidateTriggers(so.Spec.Triggers),
			kedav1alpha1.CheckReplicaCountBoundsAreValid(so), kedav1alpha1.CheckFallbackValid(so)} {
			if err != nil {
				t.Errorf("ScaledObject %s: %v", so.Name, err)
			}
		}
	}
}

// TestDecodeRefuses holds the decoder to strictness: each of these objects is one the API server refuses.
func TestDecodeRefuses(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"unknown field", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {prots: []}\n", `unknown field "spec.prots"`},
		{"field in the wrong case", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ClusterIP: None}\n", "ClusterIP"},
		{"duplicate key", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: None, clusterIP: None}\n", "already set"},
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: two}\n", "replicas"},
		{"unknown KEDA field", "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: s}\nspec: {scaleTargetRef: {name: w}, minReplicas: 0, triggers: []}\n", "minReplicas"},
		{"unknown kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", ErrUnknownKind.Error()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	if _, err := Decode([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {clusterIP: None}\n")); err != nil {
		t.Fatalf("a valid Service: %v", err)
	}
}

// TestFacefleetCommandLines: every Facefleet container, init container and preStop hook runs a command its binary
// has, with flags it defines, FACEFLEET_* variables of flags it defines, and $(VARS) its env defines; its image is
// one of the agreed names.
func TestFacefleetCommandLines(t *testing.T) { forOverlays(t, checkFacefleetCommandLines) }

func checkFacefleetCommandLines(t reporter, m *manifest, o overlay) {
	ran := map[string]bool{}
	for _, w := range m.workloads() {
		for _, c := range facefleetContainers(w.pod) {
			r := parseRun(t, m, c)
			ran[r.path] = true
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Exec != nil {
				hook := *c
				hook.Command, hook.Args = c.Lifecycle.PreStop.Exec.Command[:1], c.Lifecycle.PreStop.Exec.Command[1:]
				// A hook inherits the container's environment; a command reads only its own flags' variables,
				// and Kubernetes expands no $(VAR) in it.
				hook.Env, hook.EnvFrom = nil, nil
				ran[parseRun(t, m, &hook).path] = true
			}
		}
	}
	for _, want := range []string{"coordinator serve", "coordinator models fetch", "worker", "worker drain"} {
		if !ran[want] {
			t.Errorf("nothing runs %q", want)
		}
	}
}

// TestImages: the coordinator and the models init container run facefleet-coordinator; workers the CPU image
// locally and the GPU image on the GPU pool.
func TestImages(t *testing.T) { forOverlays(t, checkImages) }

func checkImages(t reporter, m *manifest, o overlay) {
	w := one[appsv1.Deployment](t, m, "Deployment", "facefleet-worker")
	c := one[appsv1.StatefulSet](t, m, "StatefulSet", "facefleet-coordinator")
	for _, got := range []struct{ what, image, want string }{
		{"worker", w.Spec.Template.Spec.Containers[0].Image, o.workerImage},
		{"worker's models init container", w.Spec.Template.Spec.InitContainers[0].Image, "facefleet-coordinator"},
		{"coordinator", c.Spec.Template.Spec.Containers[0].Image, "facefleet-coordinator"},
	} {
		if imageName(got.image) != got.want {
			t.Errorf("%s: image %s, want %s", got.what, got.image, got.want)
		}
	}
}

// TestScaledObjectFollowsTheQueue: the trigger reads the stream and consumer pkg/cluster creates, on the headless
// Service of the NATS servers at their monitoring port, one slot's worth of lag per worker, from zero.
func TestScaledObjectFollowsTheQueue(t *testing.T) { forOverlays(t, checkScaledObjectFollowsTheQueue) }

func checkScaledObjectFollowsTheQueue(t reporter, m *manifest, o overlay) {
	consts, err := StringConsts(filepath.Join(repoRoot, "pkg", "cluster", "cluster.go"))
	if err != nil {
		t.Fatal(err)
	}
	so := one[kedav1alpha1.ScaledObject](t, m, "ScaledObject", "facefleet-worker")
	if k := so.Spec.ScaleTargetRef.Kind; (k != "" && k != "Deployment") || so.Spec.ScaleTargetRef.Name != "facefleet-worker" {
		t.Errorf("scaleTargetRef %+v, want the Deployment facefleet-worker", so.Spec.ScaleTargetRef)
	}
	if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount != 0 {
		t.Errorf("minReplicaCount %s, want 0 (scale to zero)", ptr(so.Spec.MinReplicaCount))
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "nats-jetstream" {
		t.Fatalf("triggers %+v, want one nats-jetstream", so.Spec.Triggers)
	}
	md := so.Spec.Triggers[0].Metadata
	// The metadata KEDA v2.21's nats-jetstream scaler reads (natsJetStreamMetadata): anything else is ignored.
	known := []string{"natsServerMonitoringEndpoint", "account", "accountID", "stream", "consumer", "lagThreshold", "activationLagThreshold", "useHttps"}
	for k := range md {
		if !slices.Contains(known, k) {
			t.Errorf("trigger metadata %q: the scaler reads no such key", k)
		}
	}
	_, _, wr := container(t, m, "Deployment facefleet-worker", "worker")
	slots := wr.vals["slots"]
	if slots == "" {
		slots = wr.flags["slots"].Default
	}
	for key, want := range map[string]string{"stream": consts["Stream"], "consumer": consts["Consumer"],
		"lagThreshold": slots, "account": "$G"} {
		if md[key] != want || want == "" {
			t.Errorf("trigger %s = %q, want %q", key, md[key], want)
		}
	}
	host, port, err := net.SplitHostPort(md["natsServerMonitoringEndpoint"])
	if err != nil {
		t.Fatal(err)
	}
	svcName, ok := strings.CutSuffix(host, "."+namespace+".svc.cluster.local")
	if !ok {
		t.Fatalf("endpoint host %s: want <service>.%s.svc.cluster.local", host, namespace)
	}
	svc := one[corev1.Service](t, m, "Service", svcName)
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s: not headless: KEDA reaches each server as <server_name>.%s", svcName, host)
	}
	sts := one[appsv1.StatefulSet](t, m, "StatefulSet", "nats")
	if sts.Spec.ServiceName != svcName {
		t.Errorf("StatefulSet nats: serviceName %s, want %s (pod DNS names under it)", sts.Spec.ServiceName, svcName)
	}
	if !servicePort(svc, port, "monitor") {
		t.Errorf("Service %s has no port %s named monitor", svcName, port)
	}
	if conf := natsConf(t, m); !strings.Contains(conf, "http_port: "+port+"\n") {
		t.Errorf("nats.conf: no http_port: %s", port)
	}
}

// ptr prints what a pointer holds ("unset" for nil).
func ptr[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

func servicePort(svc *corev1.Service, port, name string) bool {
	for _, p := range svc.Spec.Ports {
		if strconv.Itoa(int(p.Port)) == port && p.Name == name {
			return true
		}
	}
	return false
}

func natsConf(t reporter, m *manifest) string {
	t.Helper()
	sts := one[appsv1.StatefulSet](t, m, "StatefulSet", "nats")
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Name == "config" && v.ConfigMap != nil {
			return one[corev1.ConfigMap](t, m, "ConfigMap", v.ConfigMap.Name).Data["nats.conf"]
		}
	}
	t.Fatal("StatefulSet nats: no config volume")
	return ""
}

// TestNATS: nats-server itself accepts each overlay's configuration with the variables the pod gives it; the
// servers, their routes and the replicas Facefleet creates its stream and buckets with agree.
func TestNATS(t *testing.T) { forOverlays(t, checkNATS) }

func checkNATS(t reporter, m *manifest, o overlay) {
	server, err := CacheBin("nats-server")
	if err != nil {
		t.Fatal(err)
	}
	sts := one[appsv1.StatefulSet](t, m, "StatefulSet", "nats")
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != o.natsServers {
		t.Errorf("replicas %s, want %d", ptr(sts.Spec.Replicas), o.natsServers)
	}
	conf := natsConf(t, m)
	dir, err := os.MkdirTemp("", "nats-conf")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(server, "-c", file, "-t")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	for name := range env(t, m, &sts.Spec.Template.Spec.Containers[0]) {
		cmd.Env = append(cmd.Env, name+"=nats-0")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("nats-server -t: %v: %s", err, out)
	}
	routes := regexp.MustCompile(`nats://([a-z0-9-]+)\.`+sts.Spec.ServiceName+`:6222`).FindAllStringSubmatch(conf, -1)
	if o.natsServers > 1 {
		if len(routes) != int(o.natsServers) {
			t.Errorf("%d routes, want one per server (%d)", len(routes), o.natsServers)
		}
		for i, r := range routes {
			if want := fmt.Sprintf("%s-%d", sts.Name, i); r[1] != want {
				t.Errorf("route %d names %s, want %s", i, r[1], want)
			}
		}
	} else if len(routes) != 0 {
		t.Errorf("one server with %d routes", len(routes))
	}
	// Every process opens the stream and buckets with the same --nats-replicas: at most the servers there are.
	for _, owner := range []string{"Deployment facefleet-worker", "StatefulSet facefleet-coordinator"} {
		path := "worker"
		if strings.Contains(owner, "coordinator") {
			path = "coordinator serve"
		}
		_, _, r := container(t, m, owner, path)
		want := strconv.Itoa(int(o.natsServers))
		if got := r.vals["nats-replicas"]; got != want && !(got == "" && want == "1") {
			t.Errorf("%s: --nats-replicas %q, want %s (the NATS servers)", owner, got, want)
		}
	}
}

// TestWorkerMemory: without --max-memory a worker budgets its container's limit less pkg/memory's margin; the
// request equals the limit; a --max-memory, where one is set, is within that (else it would be lowered with a
// warning); every slot gets at least minSlotBudget.
func TestWorkerMemory(t *testing.T) { forOverlays(t, checkWorkerMemory) }

func checkWorkerMemory(t reporter, m *manifest, o overlay) {
	_, c, r := container(t, m, "Deployment facefleet-worker", "worker")
	limit, ok := c.Resources.Limits[corev1.ResourceMemory]
	if !ok {
		t.Fatal("no memory limit: the worker would run without a budget")
	}
	if req := c.Resources.Requests[corev1.ResourceMemory]; req.Cmp(limit) != 0 {
		t.Errorf("memory request %s != limit %s", req.String(), limit.String())
	}
	var maxMemory uint64
	if v := r.vals["max-memory"]; v != "" {
		gb, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("--max-memory %q: %v", v, err)
		}
		maxMemory = memory.Bytes(gb)
	}
	lim := uint64(limit.Value())
	budget, note := memory.ContainerBudget(maxMemory, memory.CgroupInfo{Version: 2, Limit: lim})
	if note != "" {
		t.Errorf("the worker would say: %s", note)
	}
	if overhead := memory.ContainerMargin(lim); budget+overhead > lim {
		t.Errorf("limit %s < budget %s + overhead %s", memory.FormatGB(lim), memory.FormatGB(budget), memory.FormatGB(overhead))
	}
	slots, err := strconv.Atoi(r.vals["slots"])
	if err != nil {
		t.Fatalf("--slots %q: %v", r.vals["slots"], err)
	}
	if budget/uint64(slots) < minSlotBudget {
		t.Errorf("budget %s for %d slots: under %s a slot", memory.FormatGB(budget), slots, memory.FormatGB(minSlotBudget))
	}
}

// TestWorkerShutdown: the pod's grace period covers the worker's --grace, an upload's allowance and a margin; the
// preStop hook drains the worker at its own --http-addr; disruptions take one worker at a time.
func TestWorkerShutdown(t *testing.T) { forOverlays(t, checkWorkerShutdown) }

func checkWorkerShutdown(t reporter, m *manifest, o overlay) {
	pod, c, r := container(t, m, "Deployment facefleet-worker", "worker")
	g := r.vals["grace"]
	if g == "" {
		g = r.flags["grace"].Default
	}
	grace, err := time.ParseDuration(g)
	if err != nil {
		t.Fatalf("--grace %q: %v", g, err)
	}
	tgps := pod.Spec.TerminationGracePeriodSeconds
	if need := grace + uploadAllowance + shutdownMargin; tgps == nil || time.Duration(*tgps)*time.Second < need {
		t.Errorf("terminationGracePeriodSeconds %s < --grace %s + upload %s + margin %s", ptr(tgps), grace, uploadAllowance, shutdownMargin)
	}
	_, port, err := net.SplitHostPort(r.vals["http-addr"])
	if err != nil {
		t.Fatalf("--http-addr %q: %v", r.vals["http-addr"], err)
	}
	want := []string{"/usr/local/bin/worker", "drain", "--http-addr", "127.0.0.1:" + port}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil || !slices.Equal(c.Lifecycle.PreStop.Exec.Command, want) {
		t.Errorf("preStop %+v, want exec %q", c.Lifecycle, want)
	}
	pdb := false
	for _, p := range all[policyPDB](m) {
		if matchesLabels(p.Spec.Selector.MatchLabels, pod.Labels) {
			pdb = p.Spec.MaxUnavailable != nil && p.Spec.MaxUnavailable.IntValue() == 1
		}
	}
	if !pdb {
		t.Error("no PodDisruptionBudget with maxUnavailable 1 selects the workers")
	}
}

func matchesLabels(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestProbesAndPorts: the daemons' probes and Services reach the port their --http-addr gives, on the paths the
// code serves: liveness and startup /healthz, readiness /readyz.
func TestProbesAndPorts(t *testing.T) { forOverlays(t, checkProbesAndPorts) }

// probePaths are the paths pkg/health serves, read from its source.
func probePaths(t reporter) (live, ready string) {
	live, ready = "/healthz", "/readyz"
	consts, err := StringConsts(filepath.Join(repoRoot, "pkg", "health", "health.go"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		t.Logf("pkg/health not in this tree yet: the agreed paths %s and %s", live, ready)
		return live, ready
	case err != nil:
		t.Fatal(err)
	}
	return consts["LivePath"], consts["ReadyPath"]
}

func checkProbesAndPorts(t reporter, m *manifest, o overlay) {
	live, ready := probePaths(t)
	for _, d := range []struct{ owner, path, service string }{
		{"StatefulSet facefleet-coordinator", "coordinator serve", "facefleet-coordinator"},
		{"Deployment facefleet-worker", "worker", ""},
	} {
		pod, c, r := container(t, m, d.owner, d.path)
		_, p, err := net.SplitHostPort(r.vals["http-addr"])
		if err != nil {
			t.Fatalf("%s: --http-addr %q: %v", d.owner, r.vals["http-addr"], err)
		}
		port, _ := strconv.Atoi(p)
		resolve := func(ip intstr.IntOrString) int {
			if ip.Type == intstr.Int {
				return ip.IntValue()
			}
			for _, cp := range c.Ports {
				if cp.Name == ip.StrVal {
					return int(cp.ContainerPort)
				}
			}
			return -1
		}
		for _, pr := range []struct {
			what  string
			probe *corev1.Probe
			path  string
			need  bool
		}{{"liveness", c.LivenessProbe, live, true}, {"readiness", c.ReadinessProbe, ready, true}, {"startup", c.StartupProbe, live, false}} {
			switch {
			case pr.probe == nil && pr.need:
				t.Errorf("%s: no %s probe", d.owner, pr.what)
			case pr.probe == nil:
			case pr.probe.HTTPGet == nil:
				t.Errorf("%s: %s probe: not an HTTP GET", d.owner, pr.what)
			case pr.probe.HTTPGet.Path != pr.path || resolve(pr.probe.HTTPGet.Port) != port:
				t.Errorf("%s: %s probe: %s on port %s, want %s on %d (--http-addr)", d.owner, pr.what, pr.probe.HTTPGet.Path, pr.probe.HTTPGet.Port.String(), pr.path, port)
			}
		}
		if d.service == "" {
			continue
		}
		svc := one[corev1.Service](t, m, "Service", d.service)
		if !matchesLabels(svc.Spec.Selector, pod.Labels) {
			t.Errorf("Service %s does not select the pods", svc.Name)
		}
		for _, sp := range svc.Spec.Ports {
			if sp.Port != int32(port) || resolve(sp.TargetPort) != port {
				t.Errorf("Service %s port %d -> %s, want %d -> %d (--http-addr)", svc.Name, sp.Port, sp.TargetPort.String(), port, port)
			}
		}
	}
}

// TestCoordinatorIdentity: each coordinator pod's --id is its StatefulSet pod name, stable across restarts.
func TestCoordinatorIdentity(t *testing.T) { forOverlays(t, checkCoordinatorIdentity) }

func checkCoordinatorIdentity(t reporter, m *manifest, o overlay) {
	_, c, r := container(t, m, "StatefulSet facefleet-coordinator", "coordinator serve")
	if r.vals["id"] != "$(POD_NAME)" {
		t.Fatalf("--id %q, want $(POD_NAME)", r.vals["id"])
	}
	for _, e := range c.Env {
		if e.Name == "POD_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
			return
		}
	}
	t.Error("POD_NAME is not the pod's metadata.name")
}

// TestGPUPool: GPU workers ask for one GPU, land on the GPU pool and run CUDA; local workers ask for none.
func TestGPUPool(t *testing.T) { forOverlays(t, checkGPUPool) }

func checkGPUPool(t reporter, m *manifest, o overlay) {
	pod, c, r := container(t, m, "Deployment facefleet-worker", "worker")
	gpu := corev1.ResourceName("nvidia.com/gpu")
	q, has := c.Resources.Limits[gpu]
	if !o.gpu {
		if has || r.vals["execution-provider"] == "cuda" {
			t.Error("a CPU worker asks for a GPU")
		}
		return
	}
	if !has || q.Value() != 1 || c.Resources.Requests[gpu] != q {
		t.Errorf("nvidia.com/gpu limit %v request %v, want 1 and 1", c.Resources.Limits[gpu], c.Resources.Requests[gpu])
	}
	if r.vals["execution-provider"] != "cuda" {
		t.Errorf("--execution-provider %q, want cuda", r.vals["execution-provider"])
	}
	if len(pod.Spec.NodeSelector) == 0 || len(pod.Spec.Tolerations) == 0 {
		t.Error("no nodeSelector or tolerations for the GPU pool")
	}
}

// documentedSecrets are the Secrets docs/DEPLOY.md has operators create (kubectl create secret generic NAME
// --from-literal=KEY=... or --from-file=KEY=...), with their keys.
func documentedSecrets(t reporter, doc string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	secrets := map[string][]string{}
	for _, line := range strings.Split(text, "\n") {
		m := regexp.MustCompile(`kubectl (?:-n \S+ )?create secret generic ([a-z0-9-]+)(.*)`).FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, k := range regexp.MustCompile(`--from-(?:literal|file)=([A-Za-z0-9._-]+)=`).FindAllStringSubmatch(m[2], -1) {
			secrets[m[1]] = append(secrets[m[1]], k[1])
		}
	}
	return secrets
}

// TestReferences: every ConfigMap a pod reads is in the overlay, and every Secret key it needs is in the overlay
// or in the `kubectl create secret` docs/DEPLOY.md gives (the gpu overlay holds no credentials).
func TestReferences(t *testing.T) { forOverlays(t, checkReferences) }

func checkReferences(t reporter, m *manifest, o overlay) {
	docs := documentedSecrets(t, m.doc)
	secretKeys := func(name string) ([]string, bool) {
		for _, s := range all[corev1.Secret](m) {
			if s.Name == name {
				var k []string
				for key := range s.Data {
					k = append(k, key)
				}
				for key := range s.StringData {
					k = append(k, key)
				}
				return k, true
			}
		}
		k, ok := docs[name]
		return k, ok
	}
	needKey := func(where, secret, key string, optional bool) {
		ks, ok := secretKeys(secret)
		if !ok {
			t.Errorf("%s: Secret %s is neither in the overlay nor created in docs/DEPLOY.md", where, secret)
		} else if !optional && !slices.Contains(ks, key) {
			t.Errorf("%s: Secret %s has no key %s (keys %v)", where, secret, key, ks)
		}
	}
	for _, w := range m.workloads() {
		for _, v := range w.pod.Spec.Volumes {
			switch {
			case v.Secret != nil:
				for _, it := range v.Secret.Items {
					needKey(w.owner+" volume "+v.Name, v.Secret.SecretName, it.Key, false)
				}
			case v.ConfigMap != nil:
				one[corev1.ConfigMap](t, m, "ConfigMap", v.ConfigMap.Name)
			}
		}
		for _, c := range append(slices.Clone(w.pod.Spec.InitContainers), w.pod.Spec.Containers...) {
			env(t, m, &c) // its ConfigMaps exist
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					ref := e.ValueFrom.SecretKeyRef
					needKey(w.owner+" env "+e.Name, ref.Name, ref.Key, ref.Optional != nil && *ref.Optional)
				}
			}
		}
	}
}

type policyPDB = policyv1.PodDisruptionBudget

// TestNetworkPolicies: only Facefleet's pods (coordinator, workers, client pods) reach NATS and the in-cluster S3;
// NATS servers reach each other's routes; only KEDA reads NATS's monitoring port; only Prometheus (namespace
// monitoring) reaches the coordinators' and workers' --http-addr port; nothing else gets in.
func TestNetworkPolicies(t *testing.T) { forOverlays(t, checkNetworkPolicies) }

func checkNetworkPolicies(t reporter, m *manifest, o overlay) {
	policies := all[networkingv1.NetworkPolicy](m)
	ns := func(name string) map[string]string { return map[string]string{"kubernetes.io/metadata.name": name} }
	pods := map[string]Pod{}
	for _, w := range m.workloads() {
		pods[w.owner] = Pod{Namespace: namespace, Labels: w.pod.Labels, NamespaceLabels: ns(namespace)}
	}
	// A pod no policy names: only the default deny keeps it shut (the workloads' own policies do the rest).
	pods["a pod of no policy"] = Pod{Namespace: namespace, Labels: map[string]string{"app": "other"}, NamespaceLabels: ns(namespace)}
	src := map[string]Pod{
		"coordinator": pods["StatefulSet facefleet-coordinator"],
		"worker":      pods["Deployment facefleet-worker"],
		"nats":        pods["StatefulSet nats"],
		"client":      {Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/component": "client"}, NamespaceLabels: ns(namespace)},
		"stranger":    {Namespace: namespace, Labels: map[string]string{"app": "other"}, NamespaceLabels: ns(namespace)},
		"elsewhere":   {Namespace: "default", Labels: pods["Deployment facefleet-worker"].Labels, NamespaceLabels: ns("default")},
		"keda":        {Namespace: "keda", Labels: map[string]string{"app": "keda-operator"}, NamespaceLabels: ns("keda")},
		"prometheus":  {Namespace: "monitoring", Labels: map[string]string{"app.kubernetes.io/name": "prometheus"}, NamespaceLabels: ns("monitoring")},
	}
	type dst struct {
		owner string
		port  Port
		allow []string
	}
	dsts := []dst{
		{"StatefulSet nats", Port{4222, "nats"}, []string{"coordinator", "worker", "client"}},
		{"StatefulSet nats", Port{6222, "cluster"}, []string{"nats"}},
		{"StatefulSet nats", Port{8222, "monitor"}, []string{"keda"}},
		{"StatefulSet facefleet-coordinator", Port{8080, "http"}, []string{"prometheus"}},
		{"Deployment facefleet-worker", Port{8080, "http"}, []string{"prometheus"}},
		{"a pod of no policy", Port{8080, "http"}, nil},
	}
	if _, ok := pods["Deployment s3"]; ok {
		dsts = append(dsts, dst{"Deployment s3", Port{7070, "s3"}, []string{"coordinator", "worker", "client"}})
	}
	for _, d := range dsts {
		to, ok := pods[d.owner]
		if !ok {
			t.Fatalf("no %s", d.owner)
		}
		for name, from := range src {
			if got, want := Allowed(policies, from, to, d.port), slices.Contains(d.allow, name); got != want {
				t.Errorf("%s -> %s:%d: allowed %v, want %v", name, d.owner, d.port.Number, got, want)
			}
		}
	}
}
