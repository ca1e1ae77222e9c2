package iampolicy

import (
	"fmt"
	"strings"
	"testing"
)

const (
	host     = "c-oidc.s3.us-east-2.amazonaws.com"
	provider = "arn:aws:iam::123456789012:oidc-provider/" + host
	sa       = "system:serviceaccount:ns:sa"
)

func stmt(principal, cond string) string {
	return fmt.Sprintf(`{"Effect":"Allow","Principal":%s,"Action":"sts:AssumeRoleWithWebIdentity","Condition":%s}`, principal, cond)
}

func doc(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

var (
	fed   = `{"Federated":"` + provider + `"}`
	exact = stmt(fed, `{"StringEquals":{"`+host+`:sub":"`+sa+`","`+host+`:aud":"openshift"}}`)
)

// Each too-wide policy is one AWS would let another service account
// through (test/awsworld evaluates them so); each fails, quoting the
// statement at fault.
func TestJudgeTrust(t *testing.T) {
	aud := `"` + host + `:aud":"openshift"`
	for name, tc := range map[string]struct {
		trust, want string // want: "" passes, else a substring of the reason
	}{
		"exact":                         {doc(exact), ""},
		"exact, keys any case":          {doc(stmt(fed, `{"StringEquals":{"`+strings.ToUpper(host)+`:SUB":"`+sa+`"},"StringLike":{`+aud+`}}`)), ""},
		"single statement form":         {`{"Version":"2012-10-17","Statement":` + exact + `}`, ""},
		"narrowed by more conditions":   {doc(stmt(fed, `{"StringEquals":{"`+host+`:sub":"`+sa+`",`+aud+`},"StringNotEquals":{"`+host+`:amr":"x"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`)), ""},
		"a Deny beside it only narrows": {doc(exact, `{"Effect":"Deny","Principal":"*","Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringNotEquals":{"`+host+`:sub":"x"}}}`), ""},
		"negated statement": {doc(exact, stmt(fed, `{"StringNotEquals":{"`+host+`:sub":"system:serviceaccount:x:y"},"StringEquals":{`+aud+`}}`)),
			"StringNotEquals on " + host + ":sub"},
		"StringNotLike":           {doc(stmt(fed, `{"StringNotLike":{"`+host+`:sub":"x*"},"StringEquals":{`+aud+`}}`)), "StringNotLike on"},
		"ForAnyValue":             {doc(stmt(fed, `{"ForAnyValue:StringEquals":{"`+host+`:sub":"`+sa+`"},"StringEquals":{`+aud+`}}`)), "ForAnyValue:StringEquals on"},
		"ForAllValues":            {doc(stmt(fed, `{"ForAllValues:StringLike":{"`+host+`:sub":"`+sa+`"},"StringEquals":{`+aud+`}}`)), "ForAllValues:StringLike on"},
		"IfExists":                {doc(stmt(fed, `{"StringEqualsIfExists":{"`+host+`:sub":"`+sa+`"},"StringEquals":{`+aud+`}}`)), "StringEqualsIfExists on"},
		"negated audience":        {doc(stmt(fed, `{"StringEquals":{"`+host+`:sub":"`+sa+`"},"StringNotEquals":{`+aud+`}}`)), "StringNotEquals on " + host + ":aud"},
		"other audience":          {doc(stmt(fed, `{"StringEquals":{"`+host+`:sub":"`+sa+`","`+host+`:aud":"sts.amazonaws.com"}}`)), `the cluster's tokens carry "openshift"`},
		"no subject":              {doc(stmt(fed, `{"StringEquals":{`+aud+`}}`)), "no " + host + ":sub condition"},
		"no condition":            {doc(`{"Effect":"Allow","Principal":` + fed + `,"Action":"sts:*"}`), "no " + host + ":sub condition"},
		"wildcard subject":        {doc(stmt(fed, `{"StringLike":{"`+host+`:sub":"system:serviceaccount:ns:*",`+aud+`}}`)), "a wildcard"},
		"StringLike without star": {doc(stmt(fed, `{"StringLike":{"`+host+`:sub":"`+sa+`",`+aud+`}}`)), ""},
		"any principal":           {doc(exact, stmt(`"*"`, `{}`)), "also trusts AWS *"},
		"another account":         {doc(exact, `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}`), "also trusts AWS arn:aws:iam::999999999999:root"},
		"another provider":        {doc(stmt(`{"Federated":["`+provider+`","arn:aws:iam::123456789012:oidc-provider/other"]}`, `{"StringEquals":{"`+host+`:sub":"`+sa+`",`+aud+`}}`)), "also trusts Federated arn:aws:iam::123456789012:oidc-provider/other"},
		"NotPrincipal":            {doc(exact, `{"Effect":"Allow","NotPrincipal":{"AWS":"x"},"Action":"sts:*"}`), "NotPrincipal"},
		"extra subject":           {doc(stmt(fed, `{"StringEquals":{"`+host+`:sub":["`+sa+`","system:serviceaccount:default:default"],`+aud+`}}`)), "also trusts system:serviceaccount:default:default"},
		"intersection pins":       {doc(stmt(fed, `{"StringEquals":{"`+host+`:sub":["`+sa+`","system:serviceaccount:default:default"],`+aud+`},"StringLike":{"`+host+`:sub":"`+sa+`"}}`)), ""},
		"renamed subject":         {doc(stmt(fed, `{"StringEquals":{"`+host+`:sub":"system:serviceaccount:ns:other",`+aud+`}}`)), "also trusts system:serviceaccount:ns:other"},
		"not for web identity":    {doc(`{"Effect":"Allow","Principal":` + fed + `,"Action":"sts:TagSession"}`), "does not trust " + provider},
		"not JSON":                {"{", "does not parse"},
	} {
		ok, reason, warning := JudgeTrust(tc.trust, provider, host, "openshift", []string{sa})
		switch {
		case ok && warning != "":
			t.Errorf("%s: warned: %s", name, warning)
		case tc.want == "" && !ok:
			t.Errorf("%s: failed: %s", name, reason)
		case tc.want != "" && (ok || !strings.Contains(reason, tc.want)):
			t.Errorf("%s: ok=%v %q, want %q", name, ok, reason, tc.want)
		case tc.want != "" && strings.HasPrefix(tc.trust, "{\"Version") && !strings.Contains(reason, "statement {") && !strings.HasPrefix(reason, "does not trust") && !strings.HasPrefix(reason, "also trusts system"):
			t.Errorf("%s: the reason does not quote the statement: %s", name, reason)
		}
	}
}

// ccoctl pins only :sub: the role is not open to other service accounts,
// but tokens of the provider's other audiences pass, which is worth a warning.
func TestJudgeTrustWithoutAudience(t *testing.T) {
	ok, reason, warning := JudgeTrust(doc(stmt(fed, `{"StringEquals":{"`+host+`:sub":"`+sa+`"}}`)), provider, host, "openshift", []string{sa})
	if !ok || !strings.Contains(warning, "no "+host+":aud condition") || !strings.Contains(reason, "trusts exactly "+sa) {
		t.Errorf("ok=%v reason=%q warning=%q", ok, reason, warning)
	}
}

func TestJudgeTrustMissingSubject(t *testing.T) {
	ok, reason, _ := JudgeTrust(doc(exact), provider, host, "openshift", []string{sa, "system:serviceaccount:ns:b"})
	if ok || reason != "does not trust system:serviceaccount:ns:b: its pods cannot get credentials" {
		t.Errorf("%v %s", ok, reason)
	}
}

func TestParseOperator(t *testing.T) {
	for in, want := range map[string]Operator{
		"StringEquals":                      {Base: "StringEquals"},
		"ForAnyValue:StringNotLikeIfExists": {Set: "ForAnyValue", Base: "StringNotLike", IfExists: true},
		"IfExists":                          {Base: "IfExists"},
	} {
		if got := ParseOperator(in); got != want {
			t.Errorf("%s: %+v", in, got)
		}
	}
}

// FuzzJudgeTrust: whatever the document, a pass means every Allow
// statement for web identity is the exact, positive shape.
func FuzzJudgeTrust(f *testing.F) {
	f.Add(doc(exact))
	f.Add(doc(exact, stmt(fed, `{"StringNotEquals":{"`+host+`:sub":"x"}}`)))
	f.Add(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}`)
	f.Fuzz(func(t *testing.T, trust string) {
		ok, _, _ := JudgeTrust(trust, provider, host, "openshift", []string{sa})
		if !ok {
			return
		}
		d, err := Parse(trust)
		if err != nil {
			t.Fatal("passed a document that does not parse")
		}
		for _, st := range d.Statement {
			if !strings.EqualFold(st.Effect, "Allow") || !st.MatchesAction(WebIdentityAction) {
				continue
			}
			for op := range st.Condition {
				if o := ParseOperator(op); (o.Set != "" || o.IfExists || o.Base != "StringEquals" && o.Base != "StringLike") && conditionOn(st, op, host) {
					t.Fatalf("passed %s on %s", op, trust)
				}
			}
		}
	})
}

func conditionOn(st Statement, op, host string) bool {
	for k := range st.Condition[op] {
		if strings.EqualFold(k, host+":sub") || strings.EqualFold(k, host+":aud") {
			return true
		}
	}
	return false
}
