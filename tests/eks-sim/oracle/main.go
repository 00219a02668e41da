// Command aws-auth-oracle decodes one aws-auth list (mapRoles or mapUsers, read from stdin) the
// way aws-iam-authenticator's ParseMap does, with the same libraries: sigs.k8s.io/yaml's
// YAMLToJSON (gopkg.in/yaml.v2 underneath), then encoding/json into the RoleMapping/UserMapping
// fields, then Validate. Source: kubernetes-sigs/aws-iam-authenticator
// pkg/mapper/configmap/configmap.go (ParseMap, isSkippable) and pkg/config/types.go, mapper.go.
//
// Usage: aws-auth-oracle roles|users < text. Prints a JSON array of {arn, username, groups}:
// the entries the authenticator keeps (role entries with a rolearn only: EKS matches roles by
// rolearn, and an entry with both rolearn and sso fails Validate).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// The authenticator's RoleMapping and UserMapping JSON fields (pkg/config/types.go).
type ssoMatcher struct {
	PermissionSetName string `json:"permissionSetName"`
	AccountID         string `json:"accountID"`
	Partition         string `json:"partition,omitempty"`
}

type roleMapping struct {
	RoleARN  string      `json:"rolearn,omitempty"`
	SSO      *ssoMatcher `json:"sso,omitempty"`
	Username string      `json:"username"`
	Groups   []string    `json:"groups"`
	UserId   string      `json:"userid,omitempty"`
}

type userMapping struct {
	UserARN  string   `json:"userarn"`
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
	UserId   string   `json:"userid,omitempty"`
}

type mapping struct {
	Arn      string   `json:"arn"`
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

// isSkippable as in configmap.go.
func isSkippable(data string) bool {
	trimmed := strings.TrimSpace(data)
	return trimmed == "" || trimmed == "``" || trimmed == "\"\"" || trimmed == "''"
}

// toJSON is k8s.io/apimachinery/pkg/util/yaml.ToJSON: JSON text (a leading '{') is passed through.
func toJSON(data []byte) ([]byte, error) {
	if strings.HasPrefix(strings.TrimLeft(string(data), " \t\r\n"), "{") {
		return data, nil
	}
	return yaml.YAMLToJSON(data)
}

func main() {
	if len(os.Args) != 2 || (os.Args[1] != "roles" && os.Args[1] != "users") {
		fmt.Fprintln(os.Stderr, "usage: aws-auth-oracle roles|users < text")
		os.Exit(2)
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := []mapping{}
	if !isSkippable(string(in)) {
		if j, err := toJSON(in); err == nil {
			if os.Args[1] == "roles" {
				var raw []roleMapping
				_ = json.Unmarshal(j, &raw) // a type error skips the field, as ParseMap keeps going
				for _, r := range raw {
					valid := (r.RoleARN != "") != (r.SSO != nil)
					if valid && r.RoleARN != "" {
						out = append(out, mapping{r.RoleARN, r.Username, nonNil(r.Groups)})
					}
				}
			} else {
				var raw []userMapping
				_ = json.Unmarshal(j, &raw)
				for _, u := range raw {
					if u.UserARN != "" {
						out = append(out, mapping{u.UserARN, u.Username, nonNil(u.Groups)})
					}
				}
			}
		}
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

func nonNil(g []string) []string {
	if g == nil {
		return []string{}
	}
	return g
}
