package awsworld

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
)

// The gate is an HTTP proxy (HTTPS_PROXY) for the issuer hosts: CONNECT to
// an S3 or CloudFront host is answered with TLS under the test CA, and the
// requests inside are served by web. Anything else has no route — the test
// world has no internet.

// CACertPEM is the test CA; write it to a file and point SSL_CERT_FILE at it.
func (g *Gate) CACertPEM() []byte { return g.ca.pem }

func (g *Gate) connect(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil || !webHost(host) {
		http.Error(w, "the test world has no route to "+r.Host, http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot tunnel", http.StatusInternalServerError)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		conn.Close()
		return
	}
	g.tlsConn.push(tls.Server(conn, &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return g.ca.leaf(hello.ServerName)
	}}))
}

// serveTLS serves the tunnelled connections, logging each request.
func (g *Gate) serveTLS() {
	g.tlsConn = &connListener{conns: make(chan net.Conn), done: make(chan struct{})}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.calls = append(g.calls, Call{Service: "https", Operation: r.Method + " " + r.Host + r.URL.Path})
		g.mu.Unlock()
		g.web(w, r)
	})}
	go srv.Serve(g.tlsConn)
}

// Close stops serving tunnelled connections.
func (g *Gate) Close() { g.tlsConn.Close() }

// connListener hands hijacked connections to an http.Server.
type connListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func (l *connListener) push(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errors.New("gate closed")
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
