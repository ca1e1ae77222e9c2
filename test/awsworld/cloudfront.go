package awsworld

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
)

// CloudFront where moto differs: moto writes distribution ARNs without the
// empty region field (arn:aws:cloudfront:ACCOUNT:… instead of AWS's
// arn:aws:cloudfront::ACCOUNT:…; here they are AWS's both ways); a distribution is Deployed the moment it
// is created or changed (here it stays InProgress for the deploy delay, and
// cannot be deleted until deployed); moto drops an origin's
// OriginAccessControlId (here it is kept and shown); moto serves no content
// (here the distribution's domain serves its S3 origin, through origin
// access control when the bucket policy grants it).

var (
	distributionPathRE = regexp.MustCompile(`^/[0-9-]+/distribution/([A-Z0-9]+)(/config)?$`)
	motoARNRE          = regexp.MustCompile(`arn:(aws[a-z-]*):cloudfront:([0-9]{12}):`)
	awsARNRE           = regexp.MustCompile(`arn:(aws[a-z-]*):cloudfront::([0-9]{12}):`)
)

// awsARN writes moto's CloudFront ARNs as AWS does.
func awsARN(b []byte) []byte { return motoARNRE.ReplaceAll(b, []byte("arn:$1:cloudfront::$2:")) }

// toMotoARNs rewrites AWS's CloudFront ARNs in a request's query for moto.
func toMotoARNs(r *http.Request) {
	if !awsARNRE.MatchString(r.URL.Query().Encode()) && !strings.Contains(r.URL.RawQuery, "cloudfront%3A%3A") {
		return
	}
	q := r.URL.Query()
	for _, vs := range q {
		for i, v := range vs {
			vs[i] = awsARNRE.ReplaceAllString(v, "arn:$1:cloudfront:$2:")
		}
	}
	r.URL.RawQuery = q.Encode()
}

func (g *Gate) cloudFrontGuards(r *http.Request) *apiError {
	m := distributionPathRE.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodDelete || m == nil || !g.inProgress(m[1]) {
		return nil
	}
	return &apiError{http.StatusConflict, "DistributionNotDisabled", "The distribution you are trying to delete has not been disabled and deployed."}
}

func (g *Gate) inProgress(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.changed[id]
	return ok && time.Since(t) < g.deployDelay
}

var (
	idRE     = regexp.MustCompile(`<Id>([A-Z0-9]+)</Id>`)
	statusRE = regexp.MustCompile(`<Status>Deployed</Status>`)
)

func (g *Gate) afterCloudFront(resp *http.Response, reqBody []byte) error {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	body = awsARN(body)
	if resp.StatusCode >= 300 {
		return g.replaceBody(resp, body)
	}
	if answered, ok := g.afterInvalidation(resp, reqBody, body); ok {
		return g.replaceBody(resp, answered)
	}
	m := distributionPathRE.FindStringSubmatch(resp.Request.URL.Path)
	var id string
	switch {
	case m != nil:
		id = m[1]
	case resp.Request.Method == http.MethodPost && strings.HasSuffix(resp.Request.URL.Path, "/distribution"):
		if found := idRE.FindSubmatch(body); found != nil {
			id = string(found[1])
		}
	}
	if id == "" {
		return g.replaceBody(resp, body)
	}
	if resp.Request.Method == http.MethodPost || resp.Request.Method == http.MethodPut {
		g.touch(id, originAccess(reqBody))
	}
	if g.inProgress(id) {
		body = statusRE.ReplaceAll(body, []byte("<Status>InProgress</Status>"))
	}
	return g.replaceBody(resp, g.showOriginAccess(id, body))
}

func (g *Gate) replaceBody(resp *http.Response, body []byte) error {
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

func (g *Gate) touch(id string, oac map[string]string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.changed[id] = time.Now()
	g.oac[id] = oac
}

var (
	originRE    = regexp.MustCompile(`(?s)<Origin>(.*?)</Origin>`)
	originIDRE  = regexp.MustCompile(`<Id>([^<]*)</Id>`)
	originOACRE = regexp.MustCompile(`<OriginAccessControlId>([^<]*)</OriginAccessControlId>`)
)

// originAccess reads origin id -> OriginAccessControlId from a distribution config.
func originAccess(config []byte) map[string]string {
	out := map[string]string{}
	for _, o := range originRE.FindAllSubmatch(config, -1) {
		id, oac := originIDRE.FindSubmatch(o[1]), originOACRE.FindSubmatch(o[1])
		if id != nil && oac != nil && len(oac[1]) > 0 {
			out[string(id[1])] = string(oac[1])
		}
	}
	return out
}

// showOriginAccess puts back the OriginAccessControlId moto dropped.
func (g *Gate) showOriginAccess(id string, body []byte) []byte {
	g.mu.Lock()
	oac := g.oac[id]
	g.mu.Unlock()
	return originRE.ReplaceAllFunc(body, func(o []byte) []byte {
		oid := originIDRE.FindSubmatch(o)
		if oid == nil || oac[string(oid[1])] == "" || originOACRE.Match(o) {
			return o
		}
		return bytes.Replace(o, []byte("</Origin>"), []byte("<OriginAccessControlId>"+oac[string(oid[1])]+"</OriginAccessControlId></Origin>"), 1)
	})
}

func (g *Gate) originAccessControl(distribution, origin string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.oac[distribution][origin]
}

// cloudFrontServe answers https://<domain>/<path> from the distribution's
// cache, else from its S3 origin (fromOrigin).
func (g *Gate) cloudFrontServe(w http.ResponseWriter, r *http.Request, host, key string) {
	ctx := r.Context()
	region := "us-east-1"
	if strings.HasSuffix(host, ".cn") {
		region = homeRegion("aws-cn")
	}
	moto := g.moto.in(region)
	list, err := moto.cf.ListDistributions(ctx, &cloudfront.ListDistributionsInput{})
	if err != nil || list.DistributionList == nil {
		http.Error(w, "no distribution", http.StatusBadGateway)
		return
	}
	for _, sum := range list.DistributionList.Items {
		if aws.ToString(sum.DomainName) != host {
			continue
		}
		got, err := moto.cf.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: sum.Id})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		d := got.Distribution.DistributionConfig
		if !aws.ToBool(d.Enabled) || d.Origins == nil || len(d.Origins.Items) == 0 {
			http.Error(w, "distribution disabled", http.StatusForbidden)
			return
		}
		origin := d.Origins.Items[0]
		m := virtualHostRE.FindStringSubmatch(aws.ToString(origin.DomainName))
		if m == nil {
			http.Error(w, "origin is not an S3 bucket", http.StatusBadGateway)
			return
		}
		bucket, bucketRegion := m[1], hostRegion(m[2], m[3])
		r = toMoto(r, bucket, key)
		id := aws.ToString(sum.Id)
		if r.Method != http.MethodGet {
			g.fromOrigin(w, r, id, aws.ToString(sum.ARN), aws.ToString(origin.Id), bucket, bucketRegion, key, m[2] != "")
		} else if !g.cf.cached(w, id, key) {
			g.cf.fetch(w, id, key, func(w http.ResponseWriter) {
				g.fromOrigin(w, r, id, aws.ToString(sum.ARN), aws.ToString(origin.Id), bucket, bucketRegion, key, m[2] != "")
			})
		}
		return
	}
	http.Error(w, "no distribution serves "+host, http.StatusNotFound)
}

// fromOrigin gets key from the distribution's S3 origin: as CloudFront's
// service principal when the origin has origin access control, else
// anonymously.
func (g *Gate) fromOrigin(w http.ResponseWriter, r *http.Request, id, arn, originID, bucket, bucketRegion, key string, regional bool) {
	if g.originAccessControl(id, originID) == "" {
		g.anonymousS3(w, r, bucketRegion, bucket, key, regional)
		return
	}
	a, err := g.access(r.Context(), bucketRegion, bucket)
	if err != nil || !a.exists {
		accessDenied.write(w, "s3")
		return
	}
	req := policyRequest{
		who:      principal{"Service", "cloudfront.amazonaws.com"},
		action:   s3ActionOf(r.Method, key, r.URL.Query()),
		resource: s3ARN(a.partition, bucket, key),
		context:  map[string][]string{"AWS:SourceArn": {string(awsARN([]byte(arn)))}},
	}
	if a.policy.decide(req) != allowed {
		accessDenied.write(w, "s3")
		return
	}
	signAsOwner(r, bucketRegion)
	g.proxy.ServeHTTP(w, r)
}
