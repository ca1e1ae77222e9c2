package awsworld

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// thirdPartyClient is boto3 (moto's own dependency) and Python's urllib:
// an unmodified AWS client and HTTPS fetcher configured by the env file only.
const thirdPartyClient = `
import boto3, json, urllib.request
s3 = boto3.client("s3")
s3.create_bucket(Bucket="py-issuer")
s3.put_object(Bucket="py-issuer", Key="keys.json", Body=b'{"keys":[]}')
s3.put_public_access_block(Bucket="py-issuer", PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
s3.put_bucket_policy(Bucket="py-issuer", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::py-issuer/keys.json"}]}))
print(urllib.request.urlopen("https://py-issuer.s3.us-east-1.amazonaws.com/keys.json").read().decode())
try:
    boto3.client("iam").create_role(RoleName="x" * 65, AssumeRolePolicyDocument="{}")
except Exception as e:
    print(e.response["Error"]["Code"])
account = boto3.client("sts").get_caller_identity()["Account"]
boto3.client("s3control").put_public_access_block(AccountId=account, PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
try:
    urllib.request.urlopen("https://py-issuer.s3.us-east-1.amazonaws.com/keys.json")
except urllib.error.HTTPError as e:
    print(e.code)
`

func TestStandaloneWorldServesThirdPartyClients(t *testing.T) {
	if err := moto.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(dir, "aws-world")
	build := exec.Command("go", "build", "-o", bin, "./test/cmd/aws-world")
	build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	world := exec.Command(bin, "--dir", dir, "--moto", moto.URL)
	if err := world.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { world.Process.Kill(); world.Wait() })
	envFile := filepath.Join(dir, "env")
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(envFile); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	motoBin, _ := FindMoto()
	py := filepath.Join(filepath.Dir(motoBin), "python")
	script := filepath.Join(dir, "client.py")
	os.WriteFile(script, []byte(thirdPartyClient), 0o644)
	cmd := exec.Command("sh", "-c", ". "+envFile+" && exec "+py+" "+script)
	cmd.Env = append(os.Environ(), "HOME="+dir) // no ~/.aws of the machine's
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "{\"keys\":[]}\nValidationError\n403" {
		t.Errorf("third-party client saw:\n%s", got)
	}
}
