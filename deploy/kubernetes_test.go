package deploy

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/duet-rtc/duet/config"
)

// manifests are the decoded objects of deploy/kubernetes, by kind and name.
type manifests struct {
	configMaps   map[string]*corev1.ConfigMap
	services     map[string]*corev1.Service
	deployments  map[string]*appsv1.Deployment
	statefulSets map[string]*appsv1.StatefulSet
	daemonSets   map[string]*appsv1.DaemonSet
	pdbs         map[string]*policyv1.PodDisruptionBudget
	ingresses    map[string]*networkingv1.Ingress
}

// kustomization is the part of kustomize's file the manifests use; it is
// decoded strictly too.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images"`
}

// loadManifests decodes every document of every file kustomization.yaml
// lists into the Kubernetes API type of its kind, strictly: an unknown or
// duplicated field, a wrong type, or a kind not expected here fails.
func loadManifests(t *testing.T) manifests {
	t.Helper()
	dir := "kubernetes"
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" || k.Namespace == "" {
		t.Errorf("kustomization.yaml: %s %s namespace %q", k.APIVersion, k.Kind, k.Namespace)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && !slices.Contains(k.Resources, base) {
			t.Errorf("%s is not in kustomization.yaml's resources", f)
		}
	}
	m := manifests{map[string]*corev1.ConfigMap{}, map[string]*corev1.Service{}, map[string]*appsv1.Deployment{},
		map[string]*appsv1.StatefulSet{}, map[string]*appsv1.DaemonSet{}, map[string]*policyv1.PodDisruptionBudget{},
		map[string]*networkingv1.Ingress{}}
	for _, res := range k.Resources {
		b, err := os.ReadFile(filepath.Join(dir, res))
		if err != nil {
			t.Fatalf("kustomization.yaml lists %s: %v", res, err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s document %d: %v", res, i, err)
			}
			var obj any
			switch tm.APIVersion + " " + tm.Kind {
			case "v1 ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1 Service":
				obj = &corev1.Service{}
			case "apps/v1 Deployment":
				obj = &appsv1.Deployment{}
			case "apps/v1 StatefulSet":
				obj = &appsv1.StatefulSet{}
			case "apps/v1 DaemonSet":
				obj = &appsv1.DaemonSet{}
			case "policy/v1 PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			case "networking.k8s.io/v1 Ingress":
				obj = &networkingv1.Ingress{}
			default:
				t.Fatalf("%s document %d: unexpected %s %s", res, i, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s document %d (%s): %v", res, i, tm.Kind, err)
			}
			where := res + ": " + tm.Kind
			switch o := obj.(type) {
			case *corev1.ConfigMap:
				add(t, m.configMaps, o.Name, o, where)
			case *corev1.Service:
				add(t, m.services, o.Name, o, where)
			case *appsv1.Deployment:
				add(t, m.deployments, o.Name, o, where)
			case *appsv1.StatefulSet:
				add(t, m.statefulSets, o.Name, o, where)
			case *appsv1.DaemonSet:
				add(t, m.daemonSets, o.Name, o, where)
			case *policyv1.PodDisruptionBudget:
				add(t, m.pdbs, o.Name, o, where)
			case *networkingv1.Ingress:
				add(t, m.ingresses, o.Name, o, where)
			}
		}
	}
	return m
}

func add[T any](t *testing.T, into map[string]T, name string, o T, where string) {
	t.Helper()
	if name == "" {
		t.Fatalf("%s without a name", where)
	}
	if _, dup := into[name]; dup {
		t.Fatalf("%s %q twice", where, name)
	}
	into[name] = o
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// TestKubernetesManifests checks what the deployment relies on: workloads
// whose selectors match their pods, probes on ports that exist, mounts of
// volumes that exist, ConfigMaps duet and nats-server accept, a grace
// period that covers preStop plus duet's drain, a PodDisruptionBudget for
// each workload that can be evicted, and TURN on the host's network.
func TestKubernetesManifests(t *testing.T) {
	m := loadManifests(t)

	duet := m.deployments["duet"]
	if duet == nil {
		t.Fatal("no duet Deployment")
	}
	checkPods(t, m, "Deployment duet", duet.Spec.Selector, duet.Spec.Template)
	if ru := duet.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("duet: a rolling update may take a pod away before its replacement is ready")
	}
	pod := duet.Spec.Template.Spec
	c := container(t, pod, "duet")
	cfg := podDuetConfig(t, m, "Deployment duet", pod, c)
	if got := httpProbe(t, c, c.ReadinessProbe); got != "/readyz" {
		t.Errorf("duet readiness probe %q, want /readyz (503 while draining)", got)
	}
	if got := httpProbe(t, c, c.LivenessProbe); got != "/healthz" {
		t.Errorf("duet liveness probe %q, want /healthz", got)
	}
	port := portNamed(t, c, c.ReadinessProbe.HTTPGet.Port)
	if !strings.HasSuffix(cfg.Listen, fmt.Sprintf(":%d", port)) {
		t.Errorf("duet listens on %s, the probes ask port %d", cfg.Listen, port)
	}
	var preStop time.Duration
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Error("duet has no preStop sleep: the drain would begin while the ingress still sends new sockets")
	} else {
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	if need := preStop + cfg.DrainTimeout + 5*time.Second; grace < need {
		t.Errorf("terminationGracePeriodSeconds %s < preStop %s + drain_timeout %s + 5s: the kubelet kills the drain", grace, preStop, cfg.DrainTimeout)
	}
	checkNonRoot(t, "duet", pod, c)

	// NATS: three servers of one cluster, each named and routed by the
	// headless Service's DNS names, JetStream on its own volume; duet's
	// nats_url names exactly those servers and keeps three replicas.
	nats := m.statefulSets["nats"]
	if nats == nil {
		t.Fatal("no nats StatefulSet")
	}
	checkPods(t, m, "StatefulSet nats", nats.Spec.Selector, nats.Spec.Template)
	if svc := m.services[nats.Spec.ServiceName]; svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Fatalf("StatefulSet nats: serviceName %q is not a headless Service", nats.Spec.ServiceName)
	}
	replicas := int(*nats.Spec.Replicas)
	var pods []string
	for i := range replicas {
		pods = append(pods, fmt.Sprintf("nats-%d.%s", i, nats.Spec.ServiceName))
	}
	nc := container(t, nats.Spec.Template.Spec, "nats")
	nopts := natsConfig(t, m, nats, nc)
	var routes []string
	for _, r := range nopts.Routes {
		routes = append(routes, r.Hostname())
	}
	if !slices.Equal(routes, pods) || !nopts.JetStream || nopts.Cluster.Name == "" {
		t.Errorf("nats.conf: routes %v (want %v), JetStream %v, cluster %q", routes, pods, nopts.JetStream, nopts.Cluster.Name)
	}
	if nopts.ServerName != "nats-1" {
		t.Errorf("nats.conf: server_name %q, want the pod's name", nopts.ServerName)
	}
	if !mountsClaim(nats, nc, nopts.StoreDir) {
		t.Errorf("nats: JetStream store %s is not on a volume claim", nopts.StoreDir)
	}
	var natsHosts []string
	for _, u := range strings.Split(cfg.NATSURL, ",") {
		pu, err := url.Parse(u)
		if err != nil || fmt.Sprint(portNamed(t, nc, intstr.FromString("client"))) != pu.Port() {
			t.Errorf("duet nats_url entry %q", u)
		}
		natsHosts = append(natsHosts, pu.Hostname())
	}
	if !slices.Equal(natsHosts, pods) || cfg.NATSKVReplicas != replicas {
		t.Errorf("duet: nats_url hosts %v with %d KV replicas, want %v and %d", natsHosts, cfg.NATSKVReplicas, pods, replicas)
	}
	if httpProbe(t, nc, nc.LivenessProbe) == "" || httpProbe(t, nc, nc.ReadinessProbe) == "" {
		t.Error("nats probes")
	}
	if nc.Lifecycle == nil || nc.Lifecycle.PreStop == nil || nc.Lifecycle.PreStop.Exec == nil ||
		!slices.Contains(nc.Lifecycle.PreStop.Exec.Command, "ldm="+nopts.PidFile) {
		t.Errorf("nats: preStop does not put the server in lame duck mode (pid file %s)", nopts.PidFile)
	}
	if grace := time.Duration(*nats.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second; grace < nopts.LameDuckDuration+nopts.LameDuckGracePeriod+10*time.Second {
		t.Errorf("nats: terminationGracePeriodSeconds %s does not cover lame duck mode (%s + %s)", grace, nopts.LameDuckDuration, nopts.LameDuckGracePeriod)
	}

	// Disruption budgets for both, selecting their pods.
	for name, tmpl := range map[string]corev1.PodTemplateSpec{"duet": duet.Spec.Template, "nats": nats.Spec.Template} {
		pdb := m.pdbs[name]
		if pdb == nil {
			t.Errorf("no PodDisruptionBudget for %s", name)
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(tmpl.Labels)) {
			t.Errorf("PodDisruptionBudget %s selects %v, not its pods", name, pdb.Spec.Selector)
		}
		if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
			t.Errorf("PodDisruptionBudget %s: maxUnavailable %v", name, pdb.Spec.MaxUnavailable)
		}
	}

	// The Service and the Ingress reach duet's port.
	svc := m.services["duet"]
	if svc == nil || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(duet.Spec.Template.Labels)) {
		t.Fatal("no Service selecting the duet pods")
	}
	if portNamed(t, c, svc.Spec.Ports[0].TargetPort) != port {
		t.Errorf("Service duet targets %v", svc.Spec.Ports[0].TargetPort)
	}
	ing := m.ingresses["duet"]
	if ing == nil {
		t.Fatal("no Ingress")
	}
	be := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
	if be.Name != "duet" || be.Port.Name != svc.Spec.Ports[0].Name {
		t.Errorf("Ingress backend %+v", be)
	}
	if len(ing.Spec.TLS) == 0 || !slices.Contains(ing.Spec.TLS[0].Hosts, ing.Spec.Rules[0].Host) {
		t.Errorf("Ingress does not terminate TLS for %s", ing.Spec.Rules[0].Host)
	}
	if !slices.Contains(cfg.AllowedOrigins, "https://"+ing.Spec.Rules[0].Host) {
		t.Errorf("allowed_origins %v lacks the Ingress host", cfg.AllowedOrigins)
	}

	// TURN: `duet turn` (relays a signaling rollout does not touch) on
	// the host's network, advertising the node's address, with the
	// signaling nodes' secret, over UDP, TCP and TLS with a certificate
	// from a mounted Secret, probed on loopback, no capabilities, and a
	// grace period that lets its drain run.
	turn := m.daemonSets["duet-turn"]
	if turn == nil {
		t.Fatal("no TURN DaemonSet")
	}
	checkPods(t, m, "DaemonSet duet-turn", turn.Spec.Selector, turn.Spec.Template)
	tp := turn.Spec.Template.Spec
	tc := container(t, tp, "turn")
	if tc.Args[0] != "turn" {
		t.Errorf("TURN pods run %v, want duet turn", tc.Args)
	}
	tcfg := podDuetConfig(t, m, "DaemonSet duet-turn", tp, tc)
	if !tp.HostNetwork || tp.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Errorf("TURN: hostNetwork %v dnsPolicy %s", tp.HostNetwork, tp.DNSPolicy)
	}
	if !tcfg.TurnEnabled || tcfg.TurnSecret == "" || tcfg.TurnSecret != cfg.TurnSecret || len(cfg.TurnURIs) == 0 {
		t.Errorf("TURN enabled %v with a shared secret %v; signaling advertises %v", tcfg.TurnEnabled, tcfg.TurnSecret == cfg.TurnSecret, cfg.TurnURIs)
	}
	if env := envNamed(tc, "DUET_TURN_PUBLIC_IP"); env == nil || env.ValueFrom == nil || env.ValueFrom.FieldRef == nil || env.ValueFrom.FieldRef.FieldPath != "status.hostIP" {
		t.Errorf("TURN public IP not from the node's address: %+v", env)
	}
	if !strings.HasPrefix(tcfg.Listen, "127.0.0.1:") {
		t.Errorf("TURN pods serve health and metrics on %s, on the host's network", tcfg.Listen)
	}
	for _, p := range []*corev1.Probe{tc.LivenessProbe, tc.ReadinessProbe} {
		if p == nil || p.Exec == nil || p.Exec.Command[0] != "/usr/local/bin/duet" || p.Exec.Command[1] != "healthcheck" {
			t.Errorf("TURN probe %+v: on the host's network only an exec probe reaches loopback", p)
			continue
		}
		// healthcheck reads the pod's environment: TLS on, so https
		for _, a := range p.Exec.Command[2:] {
			if u, ok := strings.CutPrefix(a, "--url="); ok && tcfg.TLSMode() != config.TLSOff && !strings.HasPrefix(u, "https://") {
				t.Errorf("TURN probe asks %s of a listener that speaks TLS", u)
			}
		}
	}
	if grace := time.Duration(*tp.TerminationGracePeriodSeconds) * time.Second; grace < tcfg.DrainTimeout+5*time.Second {
		t.Errorf("TURN: terminationGracePeriodSeconds %s < drain_timeout %s + 5s", grace, tcfg.DrainTimeout)
	}
	ports := map[string]int32{} // "udp/3478" → host port
	for _, p := range tc.Ports {
		if p.HostPort != p.ContainerPort {
			t.Errorf("TURN port %+v", p)
		}
		proto := strings.ToLower(string(p.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		ports[fmt.Sprintf("%s/%d", proto, p.ContainerPort)] = p.HostPort
	}
	_, plain, _ := net.SplitHostPort(tcfg.TurnListen)
	_, tlsPort, _ := net.SplitHostPort(tcfg.TurnTLSListen)
	if ports["udp/"+plain] == 0 || ports["tcp/"+plain] == 0 || tlsPort == "" || ports["tcp/"+tlsPort] == 0 {
		t.Errorf("turn_listen %s, turn_tls_listen %s, ports %v", tcfg.TurnListen, tcfg.TurnTLSListen, tc.Ports)
	}
	if tcfg.TLSMode() != config.TLSFiles || !secretMounted(tp, tc, tcfg.TLSCert) || !secretMounted(tp, tc, tcfg.TLSKey) {
		t.Errorf("TURN's certificate %s, key %s: not from a mounted Secret", tcfg.TLSCert, tcfg.TLSKey)
	}
	var tlsAdvertised bool
	for _, u := range cfg.TurnURIs {
		want := plain
		if strings.HasPrefix(u, "turns:") {
			want, tlsAdvertised = tlsPort, true
			if host := strings.Split(strings.TrimPrefix(u, "turns:"), ":")[0]; host != tcfg.TurnHost {
				t.Errorf("signaling advertises %s; TURN's certificate is for turn_host %q", u, tcfg.TurnHost)
			}
		}
		if !strings.Contains(u, ":"+want+"?") {
			t.Errorf("signaling advertises %s, TURN listens on %s", u, want)
		}
	}
	if !tlsAdvertised {
		t.Errorf("signaling does not advertise TURN over TLS: %v", cfg.TurnURIs)
	}
	checkNonRoot(t, "turn", tp, tc)
}

// checkPods: the selector matches the template's labels, every mount is
// of a declared volume, every ConfigMap volume exists.
func checkPods(t *testing.T, m manifests, what string, sel *metav1.LabelSelector, tmpl corev1.PodTemplateSpec) {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() || !s.Matches(labels.Set(tmpl.Labels)) {
		t.Errorf("%s: selector %v does not match its pods' labels %v", what, sel, tmpl.Labels)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range tmpl.Spec.Volumes {
		volumes[v.Name] = v
		if v.ConfigMap != nil && m.configMaps[v.ConfigMap.Name] == nil {
			t.Errorf("%s: volume %s of a ConfigMap %q that is not here", what, v.Name, v.ConfigMap.Name)
		}
	}
	for _, c := range tmpl.Spec.Containers {
		if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: container %s has no memory request and limit", what, c.Name)
		}
		for _, vm := range c.VolumeMounts {
			if _, ok := volumes[vm.Name]; !ok && !strings.HasPrefix(what, "StatefulSet") {
				t.Errorf("%s: mount of undeclared volume %s", what, vm.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && (e.ValueFrom.SecretKeyRef.Name != "duet" || e.ValueFrom.SecretKeyRef.Key != "turn-secret") {
				t.Errorf("%s: %s from Secret %s/%s, which kustomization.yaml does not tell to create", what, e.Name, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
			}
		}
	}
}

// podDuetConfig loads the configuration a duet container gets: its args
// (--config pointing into a mounted ConfigMap) and its environment, with
// the pod's name and the Secret standing in for what Kubernetes fills in.
func podDuetConfig(t *testing.T, m manifests, what string, pod corev1.PodSpec, c *corev1.Container) config.Config {
	t.Helper()
	if len(c.Args) == 0 || c.Args[0] != "serve" && c.Args[0] != "turn" {
		t.Fatalf("%s: args %v do not serve", what, c.Args)
	}
	args := slices.Clone(c.Args[1:])
	if c.Args[0] == "turn" {
		args = append([]string{"--turn-enabled"}, args...) // as duet turn loads it
	}
	for i, a := range args {
		if a == "--config" && i+1 < len(args) {
			args[i+1] = mountedFile(t, m, pod, c, args[i+1])
		}
	}
	vars := map[string]string{"DUET_DATA_DIR": "/data"}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			vars[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			vars[e.Name] = "duet-7d4b9c-x2x5z"
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.hostIP":
			vars[e.Name] = "203.0.113.7"
		case e.ValueFrom.SecretKeyRef != nil:
			vars[e.Name] = "a-secret-of-at-least-thirty-two-bytes"
		default:
			t.Fatalf("%s: env %s from %+v", what, e.Name, e.ValueFrom)
		}
	}
	return loadDuetConfig(t, what, args, vars)
}

// mountedFile writes the ConfigMap key that path names in container c to a
// temporary file and returns its name.
func mountedFile(t *testing.T, m manifests, pod corev1.PodSpec, c *corev1.Container, path string) string {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path, vm.MountPath+"/")
		if !ok {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil {
				cm := m.configMaps[v.ConfigMap.Name]
				data, ok := cm.Data[rel]
				if !ok {
					t.Fatalf("ConfigMap %s has no %s", cm.Name, rel)
				}
				f := filepath.Join(t.TempDir(), rel)
				os.WriteFile(f, []byte(data), 0o600)
				return f
			}
		}
	}
	t.Fatalf("%s is not in a mounted ConfigMap", path)
	return ""
}

// natsConfig parses the StatefulSet's nats.conf with nats-server's own
// parser, as pod nats-1 sees it.
func natsConfig(t *testing.T, m manifests, sts *appsv1.StatefulSet, c *corev1.Container) *natsserver.Options {
	t.Helper()
	if len(c.Args) != 2 || c.Args[0] != "--config" {
		t.Fatalf("nats args %v", c.Args)
	}
	file := mountedFile(t, m, sts.Spec.Template.Spec, c, c.Args[1])
	if envNamed(c, "POD_NAME") == nil {
		t.Fatal("nats.conf uses $POD_NAME, which the container does not get")
	}
	t.Setenv("POD_NAME", "nats-1")
	opts, err := natsserver.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("nats-server refuses nats.conf: %v", err)
	}
	return opts
}

func mountsClaim(sts *appsv1.StatefulSet, c *corev1.Container, dir string) bool {
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != dir {
			continue
		}
		for _, claim := range sts.Spec.VolumeClaimTemplates {
			if claim.Name == vm.Name {
				return true
			}
		}
	}
	return false
}

func container(t *testing.T, pod corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for i := range pod.Containers {
		if pod.Containers[i].Name == name {
			return &pod.Containers[i]
		}
	}
	t.Fatalf("no container %s", name)
	return nil
}

// httpProbe is the path of an HTTP probe on a port the container declares.
func httpProbe(t *testing.T, c *corev1.Container, p *corev1.Probe) string {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		return ""
	}
	portNamed(t, c, p.HTTPGet.Port)
	return p.HTTPGet.Path
}

// portNamed resolves a port by name or number among the container's.
func portNamed(t *testing.T, c *corev1.Container, port intstr.IntOrString) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if port.Type == intstr.String && p.Name == port.StrVal || port.Type == intstr.Int && p.ContainerPort == port.IntVal {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %s", c.Name, port.String())
	return 0
}

func envNamed(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// checkNonRoot: the image's non-root user, no privilege escalation, no
// capabilities, a read-only root with /tmp and /data writable.
func checkNonRoot(t *testing.T, what string, pod corev1.PodSpec, c *corev1.Container) {
	t.Helper()
	ps, cs := pod.SecurityContext, c.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser != 65532 {
		t.Errorf("%s: pod security context %+v", what, ps)
	}
	if cs == nil || cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation || cs.ReadOnlyRootFilesystem == nil ||
		!*cs.ReadOnlyRootFilesystem || cs.Capabilities == nil || !slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		len(cs.Capabilities.Add) > 0 {
		t.Errorf("%s: container security context %+v", what, cs)
	}
	var mounted []string
	for _, vm := range c.VolumeMounts {
		mounted = append(mounted, vm.MountPath)
	}
	if !slices.Contains(mounted, "/tmp") || !slices.Contains(mounted, "/data") {
		t.Errorf("%s: a read-only root needs /tmp and /data mounted, has %v", what, mounted)
	}
}

// secretMounted reports whether path is in a Secret volume mounted in c.
func secretMounted(pod corev1.PodSpec, c *corev1.Container, path string) bool {
	for _, vm := range c.VolumeMounts {
		if !strings.HasPrefix(path, vm.MountPath+"/") {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.Secret != nil && v.Secret.SecretName != "" {
				return true
			}
		}
	}
	return false
}
