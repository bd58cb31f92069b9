// Command echo_server is a TCP echo server on uvstreams, the Go version of
// asyncio's streams example: one goroutine per connection echoes each line
// back (ReadLine, Write, Drain) until the client closes.
//
//	echo_server [HOST [PORT]]    (defaults: 127.0.0.1 8888; port 0: any)
//
// It prints "serving on HOST:PORT" once listening and runs until killed.
package main

import (
	"fmt"
	"log"
	"net"
	"os"

	"github.com/uvstreams/uvstreams-go"
)

func handleEcho(s *uvstreams.Stream) {
	for {
		line, err := s.ReadLine()
		if err != nil {
			log.Printf("%s: %v", s.PeerName(), err)
			return
		}
		if len(line) == 0 {
			return
		}
		fmt.Printf("received %q from %s\n", line, s.PeerName())
		if _, err := s.Write(line); err != nil {
			return
		}
		if err := s.Drain(); err != nil {
			return
		}
	}
}

func main() {
	host, port := "127.0.0.1", "8888"
	if len(os.Args) > 1 {
		host = os.Args[1]
	}
	if len(os.Args) > 2 {
		port = os.Args[2]
	}
	srv, err := uvstreams.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("serving on %s\n", srv.Addrs()[0])
	log.Fatal(srv.Serve(handleEcho))
}
