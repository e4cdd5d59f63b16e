// k6 script of the machine-limit measurement: as many GETs as HELLO_VUS closed-loop VUs can make
// against the bare Node server of bench/hello-server.ts, for HELLO_SECONDS. Not under load/: it
// measures the machine, not Pulse, and must not run as a Job in the cluster.
import http from 'k6/http';
import { num, summaryHandler, summaryTrendStats } from '../load/lib/pulse.js';

// eslint-disable-next-line no-undef -- k6's global environment
const url = __ENV.HELLO_URL;

export const options = {
  scenarios: {
    hello: { executor: 'constant-vus', vus: num('HELLO_VUS', 50), duration: `${num('HELLO_SECONDS', 30)}s` },
  },
  summaryTrendStats,
  thresholds: { http_req_failed: ['rate==0'] },
};

export default function () {
  http.get(url);
}

export const handleSummary = summaryHandler('hello');
