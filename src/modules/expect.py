import json, os, pty, re, select, signal, sys, termios, time

# opsctl expect (ansible.builtin.expect): runs a command in a pseudo-terminal
# and answers its prompts. The configuration (responses may be secrets) comes
# on stdin; the command's output goes to stdout; exit status: the command's,
# 124 on timeout, 125 when a prompt has no answer left.
c = json.loads(sys.stdin.buffer.read())
out = sys.stdout.buffer
pid, fd = pty.fork()
if pid == 0:
    if not c["echo"]:
        a = termios.tcgetattr(0)
        a[3] &= ~termios.ECHO
        termios.tcsetattr(0, termios.TCSANOW, a)
    try:
        os.execvp(c["argv"][0], c["argv"])
    except OSError as e:
        sys.stderr.write("%s: %s\n" % (c["argv"][0], e.strerror))
        os._exit(127)
events = [(re.compile(k.encode(), re.M), answers, [0], many) for k, answers, many in c["responses"]]
timeout = c["timeout"]
start = time.time()
buf = b""


def stop(code, msg):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    out.flush()
    sys.stderr.write(msg + "\n")
    sys.exit(code)


while True:
    left = None if timeout is None else timeout - (time.time() - start)
    if left is not None and left <= 0:
        stop(124, "command exceeded timeout")
    r, _, _ = select.select([fd], [], [], 0.2 if left is None else min(0.2, left))
    if not r:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        data = b""
    if not data:
        break
    out.write(data)
    buf += data
    matched = True
    while matched:
        matched = False
        for rx, answers, i, many in events:
            m = rx.search(buf)
            if not m:
                continue
            if i[0] >= len(answers):
                stop(125, "No remaining responses for '%s', output was '%s'" % (rx.pattern.decode(), buf.decode(errors="replace")))
            os.write(fd, (answers[i[0]].rstrip("\n") + "\n").encode())
            if many:
                i[0] += 1
            buf = buf[m.end():]
            matched = True
            break
out.flush()
_, status = os.waitpid(pid, 0)
sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
