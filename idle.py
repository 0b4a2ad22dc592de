import socket, time
s=socket.create_connection(("127.0.0.1",18767)); s.settimeout(200); t0=time.monotonic()
try: d=s.recv(10); print("closed after", round(time.monotonic()-t0,1), d)
except Exception as e: print("open after", round(time.monotonic()-t0,1), e)
