// A real Better Auth server used as the reference by handlers/authcompat_test.go.
//
// It listens on 127.0.0.1 on a random port, prints one line
// "listening http://127.0.0.1:PORT" to stdout, and exits when stdin closes,
// so a crashed test never leaves it running.
//
// Environment:
//   BETTER_AUTH_SECRET    the signing secret (fixed by the test)
//   TRUSTED_ORIGINS       comma-separated extra trusted origins
import http from "node:http";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";
import { bearer } from "better-auth/plugins";

const server = http.createServer();

server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  const baseURL = `http://127.0.0.1:${port}`;
  const trusted = (process.env.TRUSTED_ORIGINS || "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

  const auth = betterAuth({
    baseURL,
    secret: process.env.BETTER_AUTH_SECRET,
    database: memoryAdapter({ user: [], session: [], account: [], verification: [] }),
    emailAndPassword: { enabled: true },
    trustedOrigins: trusted,
    // The suite makes many sign-ins in a few seconds; Better Auth's own
    // limiter is per path and IP and is not what the suite compares.
    rateLimit: { enabled: false },
    telemetry: { enabled: false },
    // The bearer plugin gives the set-auth-token header and Authorization:
    // Bearer sessions that the spec requires.
    plugins: [bearer()],
  });

  server.on("request", toNodeHandler(auth));
  process.stdout.write(`listening ${baseURL}\n`);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.on("close", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
