package validate

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Pod is a pod as NetworkPolicies see it: its labels and its namespace's.
type Pod struct {
	Namespace       string
	Labels          map[string]string
	NamespaceLabels map[string]string
}

// Port is a destination port: its number and, when the container names it, its name.
type Port struct {
	Number int32
	Name   string
}

// Allowed reports whether NetworkPolicy lets src open a TCP connection to dst's port, by the API's rules: a pod no
// Ingress policy selects takes anything; a selected pod takes what some rule of a selecting policy allows. ipBlock
// peers are treated as matching no pod (pods are addressed by selectors here).
func Allowed(policies []*networkingv1.NetworkPolicy, src, dst Pod, port Port) bool {
	selected := false
	for _, p := range policies {
		if p.Namespace != dst.Namespace || !hasIngress(p) || !matches(&p.Spec.PodSelector, dst.Labels) {
			continue
		}
		selected = true
		for _, rule := range p.Spec.Ingress {
			if portMatches(rule.Ports, port) && peerMatches(rule.From, p.Namespace, src) {
				return true
			}
		}
	}
	return !selected
}

func hasIngress(p *networkingv1.NetworkPolicy) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return true // the API's default: Ingress, plus Egress when egress rules are given
	}
	for _, t := range p.Spec.PolicyTypes {
		if t == networkingv1.PolicyTypeIngress {
			return true
		}
	}
	return false
}

func matches(sel *metav1.LabelSelector, set map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false // an invalid selector selects nothing here; TestNetworkPolicies reports it
	}
	return s.Matches(labels.Set(set))
}

func portMatches(ports []networkingv1.NetworkPolicyPort, port Port) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Protocol != nil && *p.Protocol != "TCP" {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == 0 && p.EndPort != nil:
			if port.Number >= p.Port.IntVal && port.Number <= *p.EndPort {
				return true
			}
		case p.Port.Type == 0:
			if port.Number == p.Port.IntVal {
				return true
			}
		default:
			if port.Name != "" && port.Name == p.Port.StrVal {
				return true
			}
		}
	}
	return false
}

func peerMatches(peers []networkingv1.NetworkPolicyPeer, policyNS string, src Pod) bool {
	if len(peers) == 0 {
		return true
	}
	for _, peer := range peers {
		switch {
		case peer.IPBlock != nil:
		case peer.NamespaceSelector == nil && peer.PodSelector != nil:
			if src.Namespace == policyNS && matches(peer.PodSelector, src.Labels) {
				return true
			}
		case peer.NamespaceSelector != nil:
			if !matches(peer.NamespaceSelector, src.NamespaceLabels) {
				continue
			}
			if peer.PodSelector == nil || matches(peer.PodSelector, src.Labels) {
				return true
			}
		}
	}
	return false
}
