// Command echo_client is a TCP echo client on uvstreams, the Go version of
// asyncio's streams example: it sends one line, prints the echo and closes.
//
//	echo_client [HOST [PORT [MESSAGE]]]    (defaults: 127.0.0.1 8888 "Hello World!")
package main

import (
	"fmt"
	"log"
	"net"
	"os"
	"strings"
	"time"

	"github.com/uvstreams/uvstreams-go"
)

func main() {
	args := []string{"127.0.0.1", "8888", "Hello World!"}
	copy(args, os.Args[1:])
	host, port, message := args[0], args[1], args[2]
	d := uvstreams.Dialer{Timeout: 10 * time.Second}
	s, err := d.Dial("tcp", net.JoinHostPort(host, port))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	fmt.Printf("send: %q\n", message)
	if _, err := s.Write([]byte(message + "\n")); err != nil {
		log.Fatal(err)
	}
	if err := s.Drain(); err != nil {
		log.Fatal(err)
	}
	line, err := s.ReadLine()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("received: %q\n", strings.TrimRight(string(line), "\n"))
}
