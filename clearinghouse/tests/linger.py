#!/usr/bin/env python3
# linger.py PORT CA CERT KEY DELAY: how long a TLS server keeps a refused
# connection open (test_pixfeed.sh). A client whose certificate the server
# refuses completes its side of the TLS 1.3 handshake, sends a frame,
# sends raw bytes again after DELAY seconds, then stays silent; prints the
# seconds from the first frame until the server's process no longer owns
# its end of the connection (ss -p), or "none" after 10 s.
import os
import socket
import ssl
import subprocess
import sys
import time

port, ca, cert, key, delay = sys.argv[1:6]
port = int(port)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.load_verify_locations(ca)
ctx.load_cert_chain(cert, key)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
mine = s.getsockname()[1]
s.send(b"\x0bMSH|^~\\&|x\x1c\r")
t0 = time.time()
time.sleep(float(delay))
os.write(s.fileno(), b"more")


def owned():
    out = subprocess.run(["ss", "-tnpH", "state", "all",
                          "( sport = :%d and dport = :%d )" % (port, mine)],
                         capture_output=True, text=True).stdout
    return "users:" in out


while owned():
    if time.time() - t0 > 10:
        print("none")
        sys.exit(0)
    time.sleep(0.05)
print("%.2f" % (time.time() - t0))
