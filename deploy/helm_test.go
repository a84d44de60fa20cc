package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/xcally-connector/connector/config"
)

// The chart under deploy/helm and how the tests render it.
const (
	chartDir       = "helm/connector"
	helmRelease    = "rel"
	helmNamespace  = "connector-test"
	helmFullname   = helmRelease + "-connector"
	apiName        = helmFullname + "-api"
	workerName     = helmFullname + "-worker"
	migrationName  = helmFullname + "-migrate"
	defaultValues  = "values.yaml"
	helmCIValueDir = "ci"
)

// secretVars are the variables holding secrets (credentials, keys and
// tokens): the chart may set them only from a Secret, never as a value.
var secretVars = []string{
	"DATABASE_URL", "ADMIN_TOKEN", "SECRET_KEYS", "SECRET_KEY", "PII_CODEC_KEYS",
	"CODEC_TOKEN", "METRICS_TOKEN", "TEMPORAL_API_KEY",
}

// requiredSecrets are the secrets each role cannot start without
// (config.Validate); the chart must not mark them optional. SECRET_KEYS and
// SECRET_KEY are both optional references: the Secret holds one of the two.
var requiredSecrets = map[config.Role][]string{
	config.RoleAPI:     {"DATABASE_URL", "ADMIN_TOKEN", "PII_CODEC_KEYS"},
	config.RoleWorker:  {"DATABASE_URL", "PII_CODEC_KEYS"},
	config.RoleMigrate: {"DATABASE_URL"},
}

// testSecret stands for the existing Secret when the rendered environment
// is checked with config.Validate: what the kubelet would resolve.
var testSecret = map[string]string{
	"DATABASE_URL":     "postgres://connector:connector@postgres:5432/connector?sslmode=disable",
	"ADMIN_TOKEN":      testAdminToken,
	"SECRET_KEYS":      "k1:" + testSecretKey,
	"PII_CODEC_KEYS":   testCodecKeys,
	"CODEC_TOKEN":      "test-codec-token-0123456789",
	"METRICS_TOKEN":    "test-metrics-token-0123456789",
	"TEMPORAL_API_KEY": "test-temporal-api-key",
}

// helmBin is the helm binary named by HELM_BIN (.ci/helm installs the
// pinned release and sets it). Without it the chart tests skip, except
// under CI=true, where they fail.
func helmBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HELM_BIN")
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("HELM_BIN is not set: CI runs the chart tests through .ci/helm, which installs helm")
		}
		t.Skip("chart tests skipped: set HELM_BIN to a helm binary (or run .ci/helm)")
	}
	return bin
}

// helmTemplate runs `helm template` on the chart with the given values
// files (relative to the chart) and extra arguments.
func helmTemplate(t *testing.T, valuesFiles []string, args ...string) (string, error) {
	t.Helper()
	cmd := []string{"template", helmRelease, chartDir, "--namespace", helmNamespace}
	for _, f := range valuesFiles {
		cmd = append(cmd, "--values", filepath.Join(chartDir, f))
	}
	var stdout, stderr bytes.Buffer
	c := exec.Command(helmBin(t), append(cmd, args...)...)
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("helm %s: %w\n%s", strings.Join(c.Args[1:], " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// serviceMonitor is the part of the Prometheus Operator's
// monitoring.coreos.com/v1 ServiceMonitor the chart renders; decoding into
// it strictly fails on any other field.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
			Authorization *struct {
				Type        string                   `json:"type"`
				Credentials corev1.SecretKeySelector `json:"credentials"`
			} `json:"authorization,omitempty"`
			Relabelings []struct {
				Action      string `json:"action"`
				TargetLabel string `json:"targetLabel"`
				Replacement string `json:"replacement"`
			} `json:"relabelings"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// manifest is one rendered chart, every document decoded into its type.
type manifest struct {
	Documents       int
	Deployments     map[string]*appsv1.Deployment
	Services        map[string]*corev1.Service
	ServiceAccounts map[string]*corev1.ServiceAccount
	Claims          map[string]*corev1.PersistentVolumeClaim
	Jobs            map[string]*batchv1.Job
	PDBs            map[string]*policyv1.PodDisruptionBudget
	HPAs            map[string]*autoscalingv2.HorizontalPodAutoscaler
	Ingresses       map[string]*networkingv1.Ingress
	ServiceMonitors map[string]*serviceMonitor
}

// documentSeparator splits a multi-document YAML stream.
var documentSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decodeManifest decodes every document of a `helm template` output
// strictly (duplicate, unknown or miscased fields fail, as the API
// server's strict field validation does) into the Go type of its
// apiVersion and kind; a kind the test does not know fails.
func decodeManifest(t *testing.T, out string) *manifest {
	t.Helper()
	m := &manifest{
		Deployments: map[string]*appsv1.Deployment{}, Services: map[string]*corev1.Service{},
		ServiceAccounts: map[string]*corev1.ServiceAccount{}, Claims: map[string]*corev1.PersistentVolumeClaim{},
		Jobs: map[string]*batchv1.Job{}, PDBs: map[string]*policyv1.PodDisruptionBudget{},
		HPAs: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, Ingresses: map[string]*networkingv1.Ingress{},
		ServiceMonitors: map[string]*serviceMonitor{},
	}
	seen := map[string]bool{}
	for i, doc := range documentSeparator.Split(out, -1) {
		js, err := yaml.YAMLToJSONStrict([]byte(doc))
		require.NoErrorf(t, err, "document %d is not valid YAML:\n%s", i, doc)
		if string(bytes.TrimSpace(js)) == "null" {
			continue // only comments
		}
		var tm metav1.TypeMeta
		require.NoError(t, json.Unmarshal(js, &tm))
		var obj metav1.Object
		var store func()
		switch gvk := tm.APIVersion + " " + tm.Kind; gvk {
		case "apps/v1 Deployment":
			o := &appsv1.Deployment{}
			obj, store = o, func() { m.Deployments[o.Name] = o }
		case "v1 Service":
			o := &corev1.Service{}
			obj, store = o, func() { m.Services[o.Name] = o }
		case "v1 ServiceAccount":
			o := &corev1.ServiceAccount{}
			obj, store = o, func() { m.ServiceAccounts[o.Name] = o }
		case "v1 PersistentVolumeClaim":
			o := &corev1.PersistentVolumeClaim{}
			obj, store = o, func() { m.Claims[o.Name] = o }
		case "batch/v1 Job":
			o := &batchv1.Job{}
			obj, store = o, func() { m.Jobs[o.Name] = o }
		case "policy/v1 PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			obj, store = o, func() { m.PDBs[o.Name] = o }
		case "autoscaling/v2 HorizontalPodAutoscaler":
			o := &autoscalingv2.HorizontalPodAutoscaler{}
			obj, store = o, func() { m.HPAs[o.Name] = o }
		case "networking.k8s.io/v1 Ingress":
			o := &networkingv1.Ingress{}
			obj, store = o, func() { m.Ingresses[o.Name] = o }
		case "monitoring.coreos.com/v1 ServiceMonitor":
			o := &serviceMonitor{}
			obj, store = o, func() { m.ServiceMonitors[o.Name] = o }
		default:
			t.Errorf("document %d: kind %q of %q is unknown to the test: decode it into its type in decodeManifest", i, tm.Kind, tm.APIVersion)
			continue
		}
		strict, err := sigsjson.UnmarshalStrict(js, obj)
		require.NoErrorf(t, err, "document %d (%s %s)", i, tm.APIVersion, tm.Kind)
		for _, e := range strict {
			t.Errorf("%s %s: %v", tm.Kind, obj.GetName(), e)
		}
		require.NotEmptyf(t, obj.GetName(), "document %d (%s) has no name", i, tm.Kind)
		key := tm.Kind + "/" + obj.GetName()
		require.Falsef(t, seen[key], "%s is rendered twice", key)
		seen[key] = true
		store()
		m.Documents++
	}
	return m
}

// valuesFiles are the chart's values files the tests render: the defaults,
// then each file under ci/ on top of them.
func valuesFiles(t *testing.T) [][]string {
	t.Helper()
	ci, err := filepath.Glob(filepath.Join(chartDir, helmCIValueDir, "*.yaml"))
	require.NoError(t, err)
	sets := [][]string{nil}
	var names []string
	for _, f := range ci {
		rel, err := filepath.Rel(chartDir, f)
		require.NoError(t, err)
		sets = append(sets, []string{rel})
		names = append(names, filepath.Base(f))
	}
	for _, want := range []string{"all-on-values.yaml", "tls-values.yaml", "apikey-values.yaml"} {
		require.Containsf(t, names, want, "%s/%s: the chart's optional features are rendered from it", chartDir, helmCIValueDir)
	}
	return sets
}

func caseName(files []string) string {
	if len(files) == 0 {
		return defaultValues
	}
	return strings.Join(files, "+")
}

// TestHelmChart renders the chart with each values file and checks the
// manifests against the connector itself: its variables, roles, routes,
// shutdown and media directory.
func TestHelmChart(t *testing.T) {
	helmBin(t)
	for _, files := range valuesFiles(t) {
		t.Run(caseName(files), func(t *testing.T) {
			out, err := helmTemplate(t, files)
			require.NoError(t, err)
			m := decodeManifest(t, out)
			t.Logf("%d rendered documents decoded", m.Documents)

			api, worker := m.Deployments[apiName], m.Deployments[workerName]
			require.NotNil(t, api, "the api Deployment %s", apiName)
			require.NotNil(t, worker, "the worker Deployment %s", workerName)
			assert.Len(t, m.Deployments, 2)
			job := m.Jobs[migrationName]
			require.NotNil(t, job, "the migration Job %s", migrationName)

			pods := map[string]*corev1.PodTemplateSpec{"api": &api.Spec.Template, "worker": &worker.Spec.Template, "migrate": &job.Spec.Template}
			for role, pod := range pods {
				t.Run(role, func(t *testing.T) {
					checkPod(t, config.Role(role), pod)
				})
			}
			for name, d := range m.Deployments {
				sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
				require.NoError(t, err)
				assert.Truef(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "Deployment %s: its selector must match its pods", name)
			}

			checkAPI(t, m, api)
			checkWorker(t, m, worker)
			checkMigrationJob(t, m, job)
			checkSharedSettings(t, api, worker)
			checkMedia(t, m, api, worker)
			checkDisruptionBudgets(t, m)
			checkServicesAndIngress(t, m)
			checkServiceMonitors(t, m)
			checkServiceAccounts(t, m)
		})
	}
}

// connectorContainer returns the pod's one container, which must run the
// connector binary with its role as the only argument.
func connectorContainer(t *testing.T, role config.Role, pod *corev1.PodTemplateSpec) *corev1.Container {
	t.Helper()
	require.Len(t, pod.Spec.Containers, 1)
	c := &pod.Spec.Containers[0]
	assert.Equal(t, []string{string(role)}, c.Args, "the container runs `connector %s`", role)
	assert.Empty(t, c.Command, "the image's entrypoint is the connector binary")
	return c
}

// envMap resolves a container's environment the way the kubelet does,
// with testSecret as the Secret; optional references to absent keys are
// left out.
func envMap(t *testing.T, c *corev1.Container) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			v, ok := testSecret[e.ValueFrom.SecretKeyRef.Key]
			if ok {
				out[e.Name] = v
			} else {
				require.Truef(t, ptrTrue(e.ValueFrom.SecretKeyRef.Optional), "%s: the test's Secret has no key %s", e.Name, e.ValueFrom.SecretKeyRef.Key)
			}
		default:
			t.Errorf("%s: only values and secretKeyRef are expected", e.Name)
		}
	}
	return out
}

func ptrTrue(b *bool) bool { return b != nil && *b }

// varRoles maps each variable of config.Vars to the roles that read it.
func varRoles() map[string][]string {
	out := map[string][]string{}
	for _, v := range config.Vars {
		out[v.Name] = strings.Split(v.Roles, ", ")
	}
	return out
}

// dockerfileUID is the uid the image's user is created with.
func dockerfileUID(t *testing.T) int64 {
	t.Helper()
	m := regexp.MustCompile(`useradd [^\n]*--uid (\d+)`).FindStringSubmatch(readRepoFile(t, "Dockerfile"))
	require.NotNil(t, m, "Dockerfile: useradd --uid")
	uid, err := strconv.ParseInt(m[1], 10, 64)
	require.NoError(t, err)
	return uid
}

// checkPod checks what every connector pod must hold: the environment
// (names the connector reads for that role, secrets only from a Secret, a
// configuration config.Validate accepts), the security context, and the
// TLS files mounted where their variables point.
func checkPod(t *testing.T, role config.Role, pod *corev1.PodTemplateSpec) {
	c := connectorContainer(t, role, pod)
	roles := varRoles()
	secretName := ""
	seen := map[string]bool{}
	for _, e := range c.Env {
		assert.Falsef(t, seen[e.Name], "%s is set twice", e.Name)
		seen[e.Name] = true
		readBy, known := roles[e.Name]
		if !assert.Truef(t, known, "the chart sets %s, which config.Vars (config/vars.go) does not know", e.Name) {
			continue
		}
		assert.Truef(t, slices.Contains(readBy, "all") || slices.Contains(readBy, string(role)),
			"the chart sets %s for %s, which config.Vars says only %v read", e.Name, role, readBy)
		if slices.Contains(secretVars, e.Name) {
			if assert.NotNilf(t, e.ValueFrom, "%s is a secret: it must come from a Secret, not a value", e.Name) &&
				assert.NotNilf(t, e.ValueFrom.SecretKeyRef, "%s: secretKeyRef", e.Name) {
				assert.Emptyf(t, e.Value, "%s: no plain value next to the secret", e.Name)
				ref := e.ValueFrom.SecretKeyRef
				assert.Equalf(t, e.Name, ref.Key, "%s: the Secret's key is the variable's name", e.Name)
				if secretName == "" {
					secretName = ref.Name
				}
				assert.Equalf(t, secretName, ref.Name, "%s: every secret comes from the one existingSecret", e.Name)
			}
		} else {
			assert.Nilf(t, e.ValueFrom, "%s is configuration, set as a value", e.Name)
		}
	}
	for _, name := range requiredSecrets[role] {
		if assert.Truef(t, seen[name], "%s needs %s", role, name) {
			for _, e := range c.Env {
				if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					assert.Falsef(t, ptrTrue(e.ValueFrom.SecretKeyRef.Optional), "%s is required by %s: not optional", name, role)
				}
			}
		}
	}
	if role != config.RoleMigrate {
		assert.True(t, seen["SECRET_KEYS"] && seen["SECRET_KEY"], "%s reads SECRET_KEYS or SECRET_KEY, whichever the Secret holds", role)
	}

	env := envMap(t, c)
	// config.Validate opens the TLS files: the kubelet would have mounted
	// them (checked below), so the check reads stand-ins of the same name.
	valid := maps.Clone(env)
	for _, name := range []string{"TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA"} {
		if file, ok := env[name]; ok {
			stand := filepath.Join(t.TempDir(), path.Base(file))
			require.NoError(t, os.WriteFile(stand, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600))
			valid[name] = stand
		}
	}
	cfg, err := config.Load(func(k string) string { return valid[k] })
	require.NoError(t, err, "config.Load of the rendered environment")
	require.NoError(t, cfg.Validate(role), "config.Validate(%s) of the rendered environment", role)
	if target, err := config.ParseDatabaseURL(env["DATABASE_URL"]); assert.NoError(t, err) {
		assert.Equal(t, config.Postgres, target.Engine)
	}

	// Security: the image's non-root user, nothing writable but the mounts.
	psc, sc := pod.Spec.SecurityContext, c.SecurityContext
	require.NotNil(t, psc, "pod securityContext")
	require.NotNil(t, sc, "container securityContext")
	assert.True(t, ptrTrue(psc.RunAsNonRoot) || ptrTrue(sc.RunAsNonRoot), "runAsNonRoot")
	if assert.NotNil(t, psc.RunAsUser, "runAsUser") {
		assert.Equal(t, dockerfileUID(t), *psc.RunAsUser, "the Dockerfile's user")
	}
	assert.True(t, ptrTrue(sc.ReadOnlyRootFilesystem), "readOnlyRootFilesystem")
	if assert.NotNil(t, sc.AllowPrivilegeEscalation) {
		assert.False(t, *sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation")
	}
	if assert.NotNil(t, sc.Capabilities) {
		assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
		assert.Empty(t, sc.Capabilities.Add)
	}
	assert.True(t, psc.SeccompProfile != nil || sc.SeccompProfile != nil, "a seccomp profile")
	if assert.NotNil(t, pod.Spec.AutomountServiceAccountToken) {
		assert.False(t, *pod.Spec.AutomountServiceAccountToken, "the connector does not call the Kubernetes API")
	}
	assert.NotNil(t, mountAt(c, "/tmp"), "/tmp is writable (an emptyDir)")
	for _, name := range []string{"MEDIA_DIR"} {
		if dir, ok := env[name]; ok {
			if mnt := mountAt(c, dir); assert.NotNilf(t, mnt, "%s %s is a mount: the root filesystem is read-only", name, dir) {
				assert.Falsef(t, mnt.ReadOnly, "%s is written", name)
			}
		}
	}

	// TLS files: each variable names a file of a mounted Secret.
	_, hasCert := env["TEMPORAL_TLS_CERT"]
	_, hasKey := env["TEMPORAL_TLS_KEY"]
	assert.Equal(t, hasCert, hasKey, "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY come together")
	for _, name := range []string{"TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA"} {
		file, ok := env[name]
		if !ok {
			continue
		}
		assert.Truef(t, path.IsAbs(file), "%s=%s is an absolute path", name, file)
		mnt := mountAt(c, path.Dir(file))
		if !assert.NotNilf(t, mnt, "%s=%s: no volume is mounted at %s", name, file, path.Dir(file)) {
			continue
		}
		assert.Truef(t, mnt.ReadOnly, "%s: the TLS volume is mounted read-only", name)
		assert.Emptyf(t, mnt.SubPath, "%s: no subPath (a Secret update reaches the file)", name)
		vol := volume(pod, mnt.Name)
		if assert.NotNilf(t, vol, "%s: volume %s", name, mnt.Name) && assert.NotNilf(t, vol.Secret, "%s: volume %s is a Secret", name, mnt.Name) {
			var files []string
			for _, it := range vol.Secret.Items {
				files = append(files, it.Path)
			}
			assert.Containsf(t, files, path.Base(file), "%s=%s: Secret %s must project that file", name, file, vol.Secret.SecretName)
		}
	}
}

// mountAt returns the container's mount at dir, or nil.
func mountAt(c *corev1.Container, dir string) *corev1.VolumeMount {
	for i, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) == path.Clean(dir) {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func volume(pod *corev1.PodTemplateSpec, name string) *corev1.Volume {
	for i, v := range pod.Spec.Volumes {
		if v.Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

// envValue returns a plain variable of a container.
func envValue(c *corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom == nil {
			return e.Value, true
		}
	}
	return "", false
}

// shutdownTimeout is the container's SHUTDOWN_TIMEOUT, or the connector's
// default.
func shutdownTimeout(t *testing.T, c *corev1.Container) time.Duration {
	t.Helper()
	raw, ok := envValue(c, "SHUTDOWN_TIMEOUT")
	if !ok {
		return config.DefaultShutdownTimeout
	}
	d, err := time.ParseDuration(raw)
	require.NoError(t, err, "SHUTDOWN_TIMEOUT")
	return d
}

// listenPort is the port of a listen address variable such as HTTP_ADDR.
func listenPort(t *testing.T, c *corev1.Container, name string) int32 {
	t.Helper()
	addr, ok := envValue(c, name)
	require.Truef(t, ok, "%s is set", name)
	_, port, err := net.SplitHostPort(addr)
	require.NoErrorf(t, err, "%s=%s", name, addr)
	p, err := strconv.ParseInt(port, 10, 32)
	require.NoError(t, err)
	return int32(p)
}

// containerPort resolves a probe's or Service's port (a number or a port
// name) to the container's port number, or 0.
func containerPort(c *corev1.Container, port intstr.IntOrString) int32 {
	if port.Type == intstr.Int {
		return port.IntVal
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return p.ContainerPort
		}
	}
	return 0
}

// openAPIGets are the paths with a GET operation in api/openapi.json (kept
// true to the routes by the api package's tests).
func openAPIGets(t *testing.T) map[string]bool {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal([]byte(readRepoFile(t, "api/openapi.json")), &doc))
	out := map[string]bool{}
	for p, ops := range doc.Paths {
		if _, ok := ops["get"]; ok {
			out[p] = true
		}
	}
	return out
}

// checkAPI: the probes hit /readyz and /healthz on HTTP_ADDR's port, and
// the pod outlives its preStop sleep plus SHUTDOWN_TIMEOUT.
func checkAPI(t *testing.T, m *manifest, api *appsv1.Deployment) {
	c := connectorContainer(t, config.RoleAPI, &api.Spec.Template)
	port := listenPort(t, c, "HTTP_ADDR")
	gets := openAPIGets(t)
	for _, p := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{
		{"readiness", c.ReadinessProbe, "/readyz"},
		{"liveness", c.LivenessProbe, "/healthz"},
		{"startup", c.StartupProbe, "/healthz"},
	} {
		if !assert.NotNilf(t, p.probe, "api %s probe", p.what) || !assert.NotNilf(t, p.probe.HTTPGet, "api %s probe: httpGet", p.what) {
			continue
		}
		assert.Equalf(t, p.path, p.probe.HTTPGet.Path, "api %s probe path", p.what)
		assert.Truef(t, gets[p.probe.HTTPGet.Path], "api %s probe: GET %s is not a route of api/openapi.json", p.what, p.probe.HTTPGet.Path)
		assert.Equalf(t, port, containerPort(c, p.probe.HTTPGet.Port), "api %s probe port: HTTP_ADDR's", p.what)
	}

	grace := api.Spec.Template.Spec.TerminationGracePeriodSeconds
	require.NotNil(t, grace, "api terminationGracePeriodSeconds")
	need := shutdownTimeout(t, c)
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		pre := c.Lifecycle.PreStop
		require.NotNil(t, pre.Exec, "the api's preStop is a sleep")
		require.Len(t, pre.Exec.Command, 2)
		assert.Equal(t, "sleep", pre.Exec.Command[0])
		s, err := strconv.Atoi(pre.Exec.Command[1])
		require.NoError(t, err, "preStop sleep seconds")
		need += time.Duration(s) * time.Second
	}
	assert.Greaterf(t, time.Duration(*grace)*time.Second, need,
		"api terminationGracePeriodSeconds (%ds) must exceed preStop sleep + SHUTDOWN_TIMEOUT (%s)", *grace, need)

	hpa := m.HPAs[apiName]
	if hpa != nil {
		assert.Len(t, m.HPAs, 1)
		assert.Equal(t, autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: apiName}, hpa.Spec.ScaleTargetRef)
		assert.Nil(t, api.Spec.Replicas, "with the HorizontalPodAutoscaler the Deployment leaves replicas to it")
		if assert.NotNil(t, hpa.Spec.MinReplicas) {
			assert.LessOrEqual(t, *hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
		}
		assert.NotEmpty(t, hpa.Spec.Metrics)
		for _, metric := range hpa.Spec.Metrics {
			if metric.Resource != nil {
				_, requested := c.Resources.Requests[metric.Resource.Name]
				assert.Truef(t, requested, "the HPA targets %s utilisation: the api requests %s", metric.Resource.Name, metric.Resource.Name)
			}
		}
	} else {
		assert.Empty(t, m.HPAs)
		if assert.NotNil(t, api.Spec.Replicas) {
			assert.Positive(t, *api.Spec.Replicas)
		}
	}
}

// checkWorker: the metrics port is METRICS_ADDR's, and the pod outlives
// SHUTDOWN_TIMEOUT, the worker's stop timeout.
func checkWorker(t *testing.T, m *manifest, worker *appsv1.Deployment) {
	c := connectorContainer(t, config.RoleWorker, &worker.Spec.Template)
	addr, ok := envValue(c, "METRICS_ADDR")
	require.True(t, ok, "METRICS_ADDR is set: the connector's default (:9090) would listen unnoticed")
	metricsSvc := m.Services[workerName+"-metrics"]
	if addr == "off" {
		assert.Empty(t, c.Ports, "no metrics listener, no port")
		assert.Nil(t, metricsSvc, "no metrics listener, no Service")
	} else {
		port := listenPort(t, c, "METRICS_ADDR")
		assert.Equal(t, port, containerPort(c, intstr.FromString("metrics")), "the port named metrics is METRICS_ADDR's")
		assert.NotNil(t, metricsSvc, "the worker's metrics Service")
	}
	assert.Nil(t, c.LivenessProbe, "the worker serves no health endpoint")
	assert.Nil(t, c.ReadinessProbe, "the worker serves no health endpoint")

	grace := worker.Spec.Template.Spec.TerminationGracePeriodSeconds
	require.NotNil(t, grace, "worker terminationGracePeriodSeconds")
	need := shutdownTimeout(t, c)
	assert.Greaterf(t, time.Duration(*grace)*time.Second, need,
		"worker terminationGracePeriodSeconds (%ds) must exceed SHUTDOWN_TIMEOUT (%s)", *grace, need)
	if assert.NotNil(t, worker.Spec.Replicas) {
		assert.Positive(t, *worker.Spec.Replicas)
	}
}

// hookEvents are the events of a Helm hook annotation.
func hookEvents(obj metav1.Object) []string {
	h := obj.GetAnnotations()["helm.sh/hook"]
	if h == "" {
		return nil
	}
	return strings.Split(h, ",")
}

func hookWeight(t *testing.T, obj metav1.Object) int {
	t.Helper()
	w := obj.GetAnnotations()["helm.sh/hook-weight"]
	if w == "" {
		return 0
	}
	n, err := strconv.Atoi(w)
	require.NoError(t, err, "helm.sh/hook-weight of %s", obj.GetName())
	return n
}

// checkMigrationJob: `connector migrate` runs as a pre-install and
// pre-upgrade hook, once, with a ServiceAccount that exists by then.
func checkMigrationJob(t *testing.T, m *manifest, job *batchv1.Job) {
	assert.Len(t, m.Jobs, 1)
	events := hookEvents(job)
	assert.ElementsMatch(t, []string{"pre-install", "pre-upgrade"}, events, "helm.sh/hook of the migration Job")
	policy := strings.Split(job.Annotations["helm.sh/hook-delete-policy"], ",")
	assert.Contains(t, policy, "before-hook-creation", "a new attempt replaces a failed Job")
	assert.Equal(t, corev1.RestartPolicyNever, job.Spec.Template.Spec.RestartPolicy)
	if assert.NotNil(t, job.Spec.BackoffLimit) {
		assert.Positive(t, *job.Spec.BackoffLimit)
	}
	assert.NotNil(t, job.Spec.ActiveDeadlineSeconds, "a stuck migration fails the release instead of hanging it")

	sa := job.Spec.Template.Spec.ServiceAccountName
	require.NotEmpty(t, sa, "the migration names its ServiceAccount")
	if acct, rendered := m.ServiceAccounts[sa]; rendered {
		// Hooks run before the release's other resources exist.
		assert.ElementsMatchf(t, events, hookEvents(acct), "ServiceAccount %s must be a hook of the Job's events", sa)
		assert.Lessf(t, hookWeight(t, acct), hookWeight(t, job), "ServiceAccount %s is created before the Job", sa)
	}
	for name, d := range m.Deployments {
		assert.Emptyf(t, hookEvents(d), "Deployment %s is a release resource, not a hook", name)
	}
}

// checkSharedSettings: api and worker talk to the same Temporal namespace
// and task queue in the same way, and share the media directory and the
// shutdown timeout.
func checkSharedSettings(t *testing.T, api, worker *appsv1.Deployment) {
	a := envMap(t, connectorContainer(t, config.RoleAPI, &api.Spec.Template))
	w := envMap(t, connectorContainer(t, config.RoleWorker, &worker.Spec.Template))
	for _, name := range []string{
		"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE",
		"TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA", "TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_API_KEY",
		"MEDIA_DIR", "PUBLIC_URL", "SECRET_KEYS", "SECRET_KEY", "PII_CODEC_KEYS", "DATABASE_URL",
	} {
		av, aok := a[name]
		wv, wok := w[name]
		assert.Equalf(t, aok, wok, "%s is set on both api and worker, or on neither", name)
		assert.Equalf(t, av, wv, "%s: api and worker need the same value", name)
	}
	for _, name := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE", "MEDIA_DIR"} {
		assert.Containsf(t, a, name, "the chart sets %s (the connector's default is for dev)", name)
	}
}

// checkMedia: api and worker mount one ReadWriteMany claim at MEDIA_DIR.
func checkMedia(t *testing.T, m *manifest, api, worker *appsv1.Deployment) {
	var claims []string
	for _, d := range []*appsv1.Deployment{api, worker} {
		c := &d.Spec.Template.Spec.Containers[0]
		dir, ok := envValue(c, "MEDIA_DIR")
		require.True(t, ok, "MEDIA_DIR")
		mnt := mountAt(c, dir)
		require.NotNilf(t, mnt, "%s mounts MEDIA_DIR %s", d.Name, dir)
		vol := volume(&d.Spec.Template, mnt.Name)
		require.NotNil(t, vol)
		require.NotNilf(t, vol.PersistentVolumeClaim, "%s: MEDIA_DIR is a PersistentVolumeClaim", d.Name)
		assert.False(t, vol.PersistentVolumeClaim.ReadOnly)
		claims = append(claims, vol.PersistentVolumeClaim.ClaimName)
	}
	assert.Equal(t, claims[0], claims[1], "api and worker share one media claim")
	if pvc, created := m.Claims[claims[0]]; created {
		assert.Contains(t, pvc.Spec.AccessModes, corev1.ReadWriteMany, "every api and worker pod mounts the claim, on any node")
		_, sized := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		assert.True(t, sized, "the claim requests a size")
	}
	assert.LessOrEqual(t, len(m.Claims), 1)
}

// podsOf returns the names of the Deployments whose pods selector matches.
func podsOf(t *testing.T, m *manifest, selector labels.Selector) []string {
	t.Helper()
	var out []string
	for _, name := range slices.Sorted(maps.Keys(m.Deployments)) {
		if selector.Matches(labels.Set(m.Deployments[name].Spec.Template.Labels)) {
			out = append(out, name)
		}
	}
	return out
}

// checkDisruptionBudgets: each budget selects exactly its own Deployment's
// pods and never blocks a drain outright.
func checkDisruptionBudgets(t *testing.T, m *manifest) {
	for name, pdb := range m.PDBs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		require.NoError(t, err)
		assert.Equalf(t, []string{name}, podsOf(t, m, sel), "PodDisruptionBudget %s selects the pods of Deployment %s only", name, name)
		d := m.Deployments[name]
		if d == nil {
			continue
		}
		assert.Truef(t, (pdb.Spec.MinAvailable == nil) != (pdb.Spec.MaxUnavailable == nil), "PodDisruptionBudget %s: minAvailable or maxUnavailable", name)
		replicas := int32(0)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		} else if hpa := m.HPAs[name]; hpa != nil && hpa.Spec.MinReplicas != nil {
			replicas = *hpa.Spec.MinReplicas
		}
		if v := pdb.Spec.MinAvailable; v != nil && v.Type == intstr.Int {
			assert.Lessf(t, v.IntVal, replicas, "PodDisruptionBudget %s: minAvailable below the replicas, or no node drains", name)
		}
		if v := pdb.Spec.MaxUnavailable; v != nil && v.Type == intstr.Int {
			assert.Positivef(t, v.IntVal, "PodDisruptionBudget %s: maxUnavailable 0 blocks every drain", name)
		}
	}
}

// checkServicesAndIngress: each Service reaches a port of exactly one
// Deployment's pods, the Ingress routes to a Service port that exists, and
// PUBLIC_URL is served by that Ingress.
func checkServicesAndIngress(t *testing.T, m *manifest) {
	svc := m.Services[apiName]
	require.NotNil(t, svc, "the api Service")
	for name, s := range m.Services {
		targets := podsOf(t, m, labels.SelectorFromSet(s.Spec.Selector))
		if !assert.Lenf(t, targets, 1, "Service %s selects the pods of one Deployment", name) {
			continue
		}
		c := &m.Deployments[targets[0]].Spec.Template.Spec.Containers[0]
		for _, p := range s.Spec.Ports {
			assert.NotZerof(t, containerPort(c, p.TargetPort), "Service %s port %s: target %s is no port of %s", name, p.Name, p.TargetPort.String(), targets[0])
		}
	}
	assert.Equal(t, []string{apiName}, podsOf(t, m, labels.SelectorFromSet(svc.Spec.Selector)))

	api := &m.Deployments[apiName].Spec.Template.Spec.Containers[0]
	publicURL, hasPublicURL := envValue(api, "PUBLIC_URL")
	for name, ing := range m.Ingresses {
		var hosts []string
		for _, rule := range ing.Spec.Rules {
			hosts = append(hosts, rule.Host)
			require.NotNil(t, rule.HTTP)
			for _, p := range rule.HTTP.Paths {
				b := p.Backend.Service
				require.NotNilf(t, b, "Ingress %s: a Service backend", name)
				target := m.Services[b.Name]
				if !assert.NotNilf(t, target, "Ingress %s routes to Service %s, which the chart does not render", name, b.Name) {
					continue
				}
				found := false
				for _, sp := range target.Spec.Ports {
					found = found || (b.Port.Name != "" && sp.Name == b.Port.Name) || (b.Port.Number != 0 && sp.Port == b.Port.Number)
				}
				assert.Truef(t, found, "Ingress %s: Service %s has no port %v", name, b.Name, b.Port)
			}
		}
		if assert.True(t, hasPublicURL, "with an Ingress, PUBLIC_URL is set") {
			u, err := url.Parse(publicURL)
			require.NoError(t, err)
			assert.Equal(t, "https", u.Scheme, "PUBLIC_URL is https (Sinch calls it)")
			assert.Containsf(t, hosts, u.Hostname(), "PUBLIC_URL %s is served by Ingress %s", publicURL, name)
		}
	}
}

// checkServiceMonitors: each ServiceMonitor selects one Service of the
// release, scrapes /metrics on a port it has, and sends METRICS_TOKEN when
// the connector requires it.
func checkServiceMonitors(t *testing.T, m *manifest) {
	if len(m.ServiceMonitors) > 0 {
		assert.Contains(t, m.ServiceMonitors, apiName, "the api's metrics are scraped")
		if _, ok := m.Services[workerName+"-metrics"]; ok {
			assert.Contains(t, m.ServiceMonitors, workerName, "the worker's metrics are scraped")
		}
	}
	for name, sm := range m.ServiceMonitors {
		assert.Equal(t, []string{helmNamespace}, sm.Spec.NamespaceSelector.MatchNames, "ServiceMonitor %s: the release's namespace", name)
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		require.NoError(t, err)
		var selected []string
		for sname, s := range m.Services {
			if sel.Matches(labels.Set(s.Labels)) {
				selected = append(selected, sname)
			}
		}
		if !assert.Lenf(t, selected, 1, "ServiceMonitor %s selects one Service", name) {
			continue
		}
		s := m.Services[selected[0]]
		pods := podsOf(t, m, labels.SelectorFromSet(s.Spec.Selector))
		require.Len(t, pods, 1)
		c := &m.Deployments[pods[0]].Spec.Template.Spec.Containers[0]
		token := false
		for _, e := range c.Env {
			token = token || e.Name == "METRICS_TOKEN"
		}
		require.NotEmpty(t, sm.Spec.Endpoints)
		for _, ep := range sm.Spec.Endpoints {
			assert.Equal(t, "/metrics", ep.Path)
			// deploy/observability's rules select job="connector-api" and
			// job="connector-worker".
			job := ""
			for _, r := range ep.Relabelings {
				if r.Action == "replace" && r.TargetLabel == "job" {
					job = r.Replacement
				}
			}
			assert.Equalf(t, "connector-"+pods[0][strings.LastIndex(pods[0], "-")+1:], job, "ServiceMonitor %s names its job as the alerting rules expect", name)
			found := false
			for _, p := range s.Spec.Ports {
				found = found || p.Name == ep.Port
			}
			assert.Truef(t, found, "ServiceMonitor %s: Service %s has no port %s", name, s.Name, ep.Port)
			interval, err := time.ParseDuration(ep.Interval)
			require.NoError(t, err, "interval")
			timeout, err := time.ParseDuration(ep.ScrapeTimeout)
			require.NoError(t, err, "scrapeTimeout")
			assert.LessOrEqual(t, timeout, interval, "ServiceMonitor %s: scrapeTimeout within the interval", name)
			if token {
				if assert.NotNilf(t, ep.Authorization, "ServiceMonitor %s: %s requires METRICS_TOKEN", name, pods[0]) {
					assert.Equal(t, "Bearer", ep.Authorization.Type)
					assert.Equal(t, "METRICS_TOKEN", ep.Authorization.Credentials.Key)
					for _, e := range c.Env {
						if e.Name == "METRICS_TOKEN" {
							assert.Equal(t, e.ValueFrom.SecretKeyRef.Name, ep.Authorization.Credentials.Name, "the Secret the connector reads the token from")
						}
					}
				}
			} else {
				assert.Nilf(t, ep.Authorization, "ServiceMonitor %s: /metrics is open", name)
			}
		}
	}
}

// checkServiceAccounts: the pods run under the ServiceAccount the chart
// creates, or an existing one it does not render.
func checkServiceAccounts(t *testing.T, m *manifest) {
	for name, d := range m.Deployments {
		sa := d.Spec.Template.Spec.ServiceAccountName
		require.NotEmptyf(t, sa, "Deployment %s names its ServiceAccount", name)
		if acct, rendered := m.ServiceAccounts[sa]; rendered {
			assert.Emptyf(t, hookEvents(acct), "ServiceAccount %s of Deployment %s is a release resource (a hook's is deleted after it)", sa, name)
		}
	}
}

// TestHelmRefusesMisconfiguration: values that would deploy a broken or
// leaky connector fail the render, naming what to fix.
func TestHelmRefusesMisconfiguration(t *testing.T) {
	helmBin(t)
	cases := map[string]struct {
		set  []string
		want string
	}{
		"no Secret":              {[]string{"existingSecret="}, "existingSecret"},
		"TLS without its Secret": {[]string{"temporal.tls.enabled=true"}, "temporal.tls.secretName"},
		"TLS cert without key": {[]string{"temporal.tls.enabled=true", "temporal.tls.secretName=s", "temporal.tls.key="},
			"set cert and key together"},
		"TLS without files": {[]string{"temporal.tls.enabled=true", "temporal.tls.secretName=s", "temporal.tls.cert=", "temporal.tls.key="},
			"temporal.tls"},
		"autoscaling bounds": {[]string{"api.autoscaling.enabled=true", "api.autoscaling.minReplicas=5", "api.autoscaling.maxReplicas=2"}, "minReplicas"},
		// values.schema.json: unknown keys and malformed values.
		"misspelled key":    {[]string{"api.replica=3"}, "replica"},
		"unknown log level": {[]string{"log.level=loud"}, "/log/level"},
		"lower-case env":    {[]string{"env.log_level=debug"}, "log_level"},
	}
	// A secret given as a plain value, in any of the three env maps.
	for _, name := range secretVars {
		for _, where := range []string{"env", "api.env", "worker.env"} {
			cases[where+"."+name] = struct {
				set  []string
				want string
			}{[]string{where + "." + name + "=plain"}, where + "." + name}
		}
	}
	// The variables the chart derives from its own values.
	for _, name := range []string{"HTTP_ADDR", "METRICS_ADDR", "MEDIA_DIR", "SHUTDOWN_TIMEOUT", "PUBLIC_URL",
		"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_CA"} {
		cases["env."+name] = struct {
			set  []string
			want string
		}{[]string{"env." + name + "=x"}, "env." + name}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var args []string
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			_, err := helmTemplate(t, nil, args...)
			require.Error(t, err, "the render must fail")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestHelmDefaultsFollowTheConnector: the chart's defaults are the
// connector's production settings, not copies that drift: the Dockerfile's
// media directory and ports, the config package's task queue.
func TestHelmDefaultsFollowTheConnector(t *testing.T) {
	helmBin(t)
	out, err := helmTemplate(t, nil)
	require.NoError(t, err)
	m := decodeManifest(t, out)
	api := &m.Deployments[apiName].Spec.Template.Spec.Containers[0]
	worker := &m.Deployments[workerName].Spec.Template.Spec.Containers[0]
	dockerfile := readRepoFile(t, "Dockerfile")

	dir, _ := envValue(api, "MEDIA_DIR")
	assert.Contains(t, dockerfile, "install -d -o connector -g connector -m 0750 "+dir, "the image creates MEDIA_DIR")
	expose := regexp.MustCompile(`(?m)^EXPOSE (.+)$`).FindStringSubmatch(dockerfile)
	require.NotNil(t, expose, "Dockerfile EXPOSE")
	ports := strings.Fields(expose[1])
	assert.Contains(t, ports, strconv.Itoa(int(listenPort(t, api, "HTTP_ADDR"))), "the api's port is one the image exposes")
	assert.Contains(t, ports, strconv.Itoa(int(listenPort(t, worker, "METRICS_ADDR"))), "the worker's metrics port is one the image exposes")
	queue, _ := envValue(api, "TEMPORAL_TASK_QUEUE")
	assert.Equal(t, config.DefaultTemporalTaskQueue, queue)
	timeout, _ := envValue(api, "SHUTDOWN_TIMEOUT")
	d, err := time.ParseDuration(timeout)
	require.NoError(t, err)
	assert.Equal(t, config.DefaultShutdownTimeout, d, "SHUTDOWN_TIMEOUT")
	_, set := envValue(api, "PUBLIC_URL")
	assert.False(t, set, "no publicURL and no Ingress: PUBLIC_URL is left unset (NOTES.txt warns)")
}

// TestHelmTLSServerNameOnly: a server name alone (which turns the
// connector's TLS on, against the system roots) needs no Secret to mount.
func TestHelmTLSServerNameOnly(t *testing.T) {
	helmBin(t)
	out, err := helmTemplate(t, nil, "--set", "temporal.tls.enabled=true", "--set", "temporal.tls.cert=",
		"--set", "temporal.tls.key=", "--set", "temporal.tls.serverName=frontend.temporal.internal")
	require.NoError(t, err)
	m := decodeManifest(t, out)
	for _, name := range []string{apiName, workerName} {
		pod := &m.Deployments[name].Spec.Template
		env := envMap(t, &pod.Spec.Containers[0])
		assert.Equal(t, "frontend.temporal.internal", env["TEMPORAL_TLS_SERVER_NAME"], name)
		for _, file := range []string{"TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA"} {
			assert.NotContains(t, env, file, name)
		}
		for _, v := range pod.Spec.Volumes {
			assert.Nilf(t, v.Secret, "%s: no TLS files, no Secret volume (%s)", name, v.Name)
		}
	}
	checkPod(t, config.RoleAPI, &m.Deployments[apiName].Spec.Template)
	checkPod(t, config.RoleWorker, &m.Deployments[workerName].Spec.Template)
}
