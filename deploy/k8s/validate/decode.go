package validate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// ErrUnknownKind is returned for an object whose apiVersion and kind have no Go type below.
var ErrUnknownKind = errors.New("no Go type for this kind: add it to validate.types")

// types are the kinds the manifests may hold, each with the Go type the API server would decode it into.
var types = map[string]func() any{
	"v1/Namespace":                           func() any { return new(corev1.Namespace) },
	"v1/ConfigMap":                           func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                              func() any { return new(corev1.Secret) },
	"v1/Service":                             func() any { return new(corev1.Service) },
	"v1/PersistentVolumeClaim":               func() any { return new(corev1.PersistentVolumeClaim) },
	"apps/v1/Deployment":                     func() any { return new(appsv1.Deployment) },
	"apps/v1/StatefulSet":                    func() any { return new(appsv1.StatefulSet) },
	"policy/v1/PodDisruptionBudget":          func() any { return new(policyv1.PodDisruptionBudget) },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return new(networkingv1.NetworkPolicy) },
	"keda.sh/v1alpha1/ScaledObject":          func() any { return new(kedav1alpha1.ScaledObject) },
	"keda.sh/v1alpha1/TriggerAuthentication": func() any { return new(kedav1alpha1.TriggerAuthentication) },
	// components/monitoring: the Prometheus operator's own types.
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(monitoringv1.ServiceMonitor) },
	"monitoring.coreos.com/v1/PodMonitor":     func() any { return new(monitoringv1.PodMonitor) },
}

// Object is one decoded manifest object.
type Object struct {
	Kind, Name, Namespace string
	Value                 any // *appsv1.Deployment, *corev1.Service, ...
}

// Decode splits a multi-document YAML stream and decodes every document strictly: an unknown or duplicated field, a
// field in the wrong case or a value of the wrong type is an error naming the object, as the API server's strict
// field validation would refuse it.
func Decode(stream []byte) ([]Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var objs []Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		o, err := decodeOne(doc)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
}

func decodeOne(doc []byte) (Object, error) {
	js, err := yaml.YAMLToJSONStrict(doc) // duplicate keys are an error here
	if err != nil {
		return Object{}, err
	}
	var u unstructured.Unstructured
	if err := u.UnmarshalJSON(js); err != nil {
		return Object{}, err
	}
	o := Object{Kind: u.GetKind(), Name: u.GetName(), Namespace: u.GetNamespace()}
	id := fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name)
	newT, ok := types[u.GetAPIVersion()+"/"+o.Kind]
	if !ok {
		return Object{}, fmt.Errorf("%s (apiVersion %s): %w", id, u.GetAPIVersion(), ErrUnknownKind)
	}
	o.Value = newT()
	strict, err := kjson.UnmarshalStrict(js, o.Value)
	if err != nil {
		return Object{}, fmt.Errorf("%s: %w", id, err)
	}
	if len(strict) > 0 {
		return Object{}, fmt.Errorf("%s: %w", id, errors.Join(strict...))
	}
	return o, nil
}
