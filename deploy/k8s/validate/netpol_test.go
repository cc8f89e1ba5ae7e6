package validate

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestAllowed(t *testing.T) {
	sel := func(kv ...string) *metav1.LabelSelector {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return &metav1.LabelSelector{MatchLabels: m}
	}
	port := func(p intstr.IntOrString) []networkingv1.NetworkPolicyPort {
		return []networkingv1.NetworkPolicyPort{{Port: &p}}
	}
	policy := func(ns string, to *metav1.LabelSelector, rules ...networkingv1.NetworkPolicyIngressRule) *networkingv1.NetworkPolicy {
		p := &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{PodSelector: *to, Ingress: rules,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
		p.Namespace = ns
		return p
	}
	pod := func(ns string, kv ...string) Pod {
		return Pod{Namespace: ns, Labels: sel(kv...).MatchLabels, NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
	}
	db := pod("a", "app", "db")
	web := pod("a", "app", "web")
	webB := pod("b", "app", "web")
	fromWeb := networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{{PodSelector: sel("app", "web")}},
		Ports: port(intstr.FromInt32(5432))}
	fromB := networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{{
		NamespaceSelector: sel("kubernetes.io/metadata.name", "b"), PodSelector: sel("app", "web")}},
		Ports: port(intstr.FromString("metrics"))}
	cases := []struct {
		name     string
		policies []*networkingv1.NetworkPolicy
		src, dst Pod
		port     Port
		want     bool
	}{
		{"no policy selects the pod", nil, web, db, Port{5432, ""}, true},
		{"a policy in another namespace", []*networkingv1.NetworkPolicy{policy("b", sel())}, web, db, Port{5432, ""}, true},
		{"default deny", []*networkingv1.NetworkPolicy{policy("a", sel())}, web, db, Port{5432, ""}, false},
		{"allowed pod and port", []*networkingv1.NetworkPolicy{policy("a", sel("app", "db"), fromWeb)}, web, db, Port{5432, ""}, true},
		{"allowed pod, other port", []*networkingv1.NetworkPolicy{policy("a", sel("app", "db"), fromWeb)}, web, db, Port{5433, ""}, false},
		{"pod selector alone is this namespace only", []*networkingv1.NetworkPolicy{policy("a", sel("app", "db"), fromWeb)}, webB, db, Port{5432, ""}, false},
		{"namespace and pod selector, named port", []*networkingv1.NetworkPolicy{policy("a", sel("app", "db"), fromB)}, webB, db, Port{9090, "metrics"}, true},
		{"namespace and pod selector, wrong namespace", []*networkingv1.NetworkPolicy{policy("a", sel("app", "db"), fromB)}, web, db, Port{9090, "metrics"}, false},
		{"rules add up", []*networkingv1.NetworkPolicy{policy("a", sel()), policy("a", sel("app", "db"), fromWeb)}, web, db, Port{5432, ""}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Allowed(c.policies, c.src, c.dst, c.port); got != c.want {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}
