/**
 * The markdown report of a run, from its raw record alone, so that --render can write it again
 * after a change of wording. Pure: no I/O.
 */
import type { Counters } from './exposition.js';
import { LOAD_POLL_MS, LOAD_WAIT_MS, type LoadGate } from './load-gate.js';
import { PROFILE_INTERVAL_US, type ProfileFunction } from './profile.js';
import { TARGET_CPU_PERCENT, TARGET_RSS_MB, verdict, type Raw } from './results.js';

const n = (value: number | null | undefined, digits = 1) =>
  value === null || value === undefined
    ? 'n/a'
    : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
const mark = (ok: boolean) => (ok ? 'met' : '**missed**');
/** A profile table's rows: time by where the code lives, and by function. */
const categoryRow = (c: { category: string; ms: number; shareOfBusy: number }) =>
  `| ${c.category} | ${n(c.ms, 0)} | ${n(c.shareOfBusy, 1)} % |`;
const functionRow = (f: ProfileFunction) =>
  `| \`${f.function}\` | ${f.where === '' ? f.category : `\`${f.where}\``} | ${n(f.ms, 0)} | ${n(f.shareOfBusy, 1)} % |`;
const codes = (byCode: Record<string, number>) =>
  Object.keys(byCode).length === 0
    ? 'none'
    : Object.entries(byCode)
        .map(([code, count]) => `${code}: ${n(count, 0)}`)
        .join(', ');
const mem = (c: Counters) =>
  `${n(c.memory.heapUsedMb)} / ${n(c.memory.heapTotalMb)} / ${n(c.memory.externalMb)}`;
const counts = (record: Record<string, number>) =>
  Object.entries(record)
    .map(([key, count]) => `${key} ${n(count, 0)}`)
    .join(', ');

/**
 * `defaultLoadMax` is the load gate's bar to name for reports written before the record kept it
 * (`parameters.loadMax`): --max-load of this invocation.
 */
export function markdown(raw: Raw, jsonFile: string, defaultLoadMax: number): string {
  const r = raw.results;
  const v = verdict(r);
  const p = raw.parameters;
  const loadMax = p.loadMax ?? defaultLoadMax;
  const queryMode = p.queryMode ?? 'identical';
  const gate = (g: LoadGate) =>
    `${g.before}: ${g.met ? 'below' : '**not below**'} ${loadMax} after ${n(g.waitedSeconds, 0)} s (then ${g.loadAverage.join(', ')})`;
  const errorLines = [
    `reconciles that failed: ${n(r.errors.reconcileErrors, 0)}`,
    `Prometheus queries answered other than 2xx: ${n(r.errors.prometheusNon2xx, 0)}`,
    `API server requests of the kinds above answered other than 2xx: ${n(r.errors.apiserverNon2xx, 0)}`,
    `watch restarts: ${n(r.errors.watchRestarts, 0)}; leader at the end: ${r.errors.leaderAtEnd === 1 ? 'yes' : '**no**'}`,
    `operator log in the window: ${raw.log.window.warnings} warnings, ${raw.log.window.errors} errors` +
      `; whole run: ${raw.log.wholeRun.warnings} warnings, ${raw.log.wholeRun.errors} errors`,
    ...Object.entries(raw.log.wholeRun.messages)
      .slice(0, 10)
      .map(([message, count]) => `  - ${count} x \`${message.replace(/`/g, "'")}\``),
  ];
  const cpuSentence = v.cpuEvery30s
    ? `every 30 s window stayed below ${TARGET_CPU_PERCENT} %`
    : `the busiest 30 s window reached ${n(r.cpu.max30sPercentOfOneCore, 2)} %`;
  const lines = [
    `# Operator scale benchmark ${raw.date.slice(0, 10)}`,
    '',
    `Issue #6's target: "One operator handles 500 ReplicationLag resources at a 15 s poll with under 5% of one core and under 150 MB RSS."`,
    `This run: **${p.resources} ReplicationLags at a ${p.pollSeconds} s poll**, measured for ${n(r.windowSeconds, 0)} s once every`,
    `resource had a status. The driver ran at commit \`${raw.commit}\`, started ${raw.date}, finished ${raw.finished} (${n(raw.durationSeconds / 60, 1)} min`,
    `in all). Raw samples and counters: [${jsonFile}](${jsonFile}). Re-run with \`make bench-operator\``,
    `(\`node --import tsx bench/operator.ts --resources ${p.resources} --seconds ${p.windowSeconds} --poll ${p.pollSeconds}${p.profile ? ' --profile' : ''}${raw.operator.source === 'commit' ? ` --operator-ref ${raw.operator.commit}` : ''}\`).`,
    '',
    raw.operator.source === 'commit'
      ? `**The operator measured:** commit \`${raw.operator.commit}\` (its \`operator/\` and \`services/core/\`, built in the run dir for this run; build \`${raw.operator.distSha256}\`), whatever the working tree held.`
      : `**The operator measured:** the working tree's \`operator/dist\` (build \`${raw.operator.distSha256}\` of ${raw.operator.builtAt}) at HEAD \`${raw.operator.commit}\`` +
        (raw.operator.uncommitted.length > 0
          ? `, with uncommitted changes: ${raw.operator.uncommitted.map((line) => `\`${line.trim()}\``).join(', ')}.`
          : ', no uncommitted changes under operator/ or services/core/.'),
    '',
    '## Verdict',
    '',
    `**Target ${v.met ? 'met' : 'missed'}.** The operator used ${n(r.cpu.meanPercentOfOneCore, 2)} % of one core on average over the`,
    `window (${cpuSentence}) and at most ${n(r.rssMb.max)} MB RSS, while reconciling ${n(r.reconciles.perSecond, 2)} resources/s`,
    `(${p.resources} / ${p.pollSeconds} s = ${n(r.reconciles.expectedPerSecond, 2)} expected).`,
    ...(raw.profile
      ? [
          `In the CPU profile (below), the largest shares of the non-idle time are ${raw.profile.summary.byCategory
            .slice(0, 4)
            .map((c) => `${c.category} ${n(c.shareOfBusy, 0)} %`)
            .join(
              ', ',
            )}; charged to their nearest caller outside Node and V8: ${raw.profile.summary.byCallerCategory
            .slice(0, 3)
            .map((c) => `${c.category} ${n(c.shareOfBusy, 0)} %`)
            .join(', ')}.`,
        ]
      : []),
    '',
    '| figure | measured | target | |',
    '| --- | --- | --- | --- |',
    `| operator CPU, mean over the window | ${n(r.cpu.meanPercentOfOneCore, 2)} % of one core (${n(r.cpu.cpuSecondsInWindow, 2)} CPU s in ${n(r.windowSeconds, 0)} s) | < ${TARGET_CPU_PERCENT} % | ${mark(v.cpuMean)} |`,
    `| operator CPU, busiest / quietest 30 s window | ${n(r.cpu.max30sPercentOfOneCore, 2)} / ${n(r.cpu.min30sPercentOfOneCore, 2)} % | < ${TARGET_CPU_PERCENT} % | ${mark(v.cpuEvery30s)} |`,
    `| operator RSS at start / max / end of the window | ${n(r.rssMb.start)} / ${n(r.rssMb.max)} / ${n(r.rssMb.end)} MB | < ${TARGET_RSS_MB} MB | ${mark(v.rss)} |`,
    `| operator RSS growth over the window | ${n(r.rssMb.growthPerMinute)} MB/min | | |`,
    `| operator peak RSS since its start (VmHWM, includes the warm-up) | ${n(raw.peakRssMbSinceStart)} MB | | |`,
    `| operator V8 heap used / heap total / external at start → end of the window | ${mem(raw.counters.before)} → ${mem(raw.counters.after)} MB | | |`,
    `| reconciles/s | ${n(r.reconciles.perSecond, 2)} (expected ${n(r.reconciles.expectedPerSecond, 2)}) | keeps up with the poll | ${mark(v.keptUp)} |`,
    '',
    `CPU is the operator process' utime + stime from \`/proc/<pid>/stat\` (CLK_TCK ${p.clkTck}), sampled every`,
    `${p.sampleIntervalSeconds} s; "30 s windows" slide over consecutive samples. RSS is \`VmRSS\` from \`/proc/<pid>/status\`;`,
    `MB here means MiB (kB / 1024), as in the other reports. Read as 10^6 bytes, 150 MB is 143.1 MiB: that stricter`,
    `reading is ${v.rssDecimal ? 'met too' : '**missed**'}. "Keeps up" means at least 90 % of N / poll reconciles per second.`,
    '',
    '## The work done in the window',
    '',
    `Counters read from the operator's, Prometheus' and the API server's \`/metrics\` right before the first and right`,
    `after the last sample (${n(r.counterSeconds, 1)} s apart).`,
    '',
    '| what | count | per second | expected per second |',
    '| --- | --- | --- | --- |',
    `| reconciles, by result | ${counts(r.reconciles.byResult)} | ${n(r.reconciles.perSecond, 2)} | ${n(r.reconciles.expectedPerSecond, 2)} (N / poll) |`,
    `| Prometheus instant queries (\`/api/v1/query\`), by code | ${codes(r.prometheusQueries.byCode)} | ${n(r.prometheusQueries.perSecond, 2)} | ${n(r.prometheusQueries.unsharedPerSecond, 2)} if every reconcile asked its ${p.queriesPerReconcile} queries itself; measured ${n(r.prometheusQueries.perReconcile, 2)} per reconcile |`,
    `| status PATCHes of replicationlags, by code | ${codes(r.apiserver.statusPatches.byCode)} | ${n(r.apiserver.statusPatches.perSecond, 2)} | ${n(r.reconciles.expectedPerSecond, 2)} (one per reconcile) |`,
    `| GETs of deployments/scale, by code | ${codes(r.apiserver.scaleReads.byCode)} | ${n(r.apiserver.scaleReads.perSecond, 2)} | ${n(r.reconciles.expectedPerSecond, 2)} (one per reconcile) |`,
    `| PATCHes of deployments/scale (scaling) | ${codes(r.apiserver.scaleWrites.byCode)} | ${n(r.apiserver.scaleWrites.perSecond, 2)} | 0 (the decision is to stay) |`,
    `| Events created (any client) | ${codes(r.apiserver.eventsCreated.byCode)} | ${n(r.apiserver.eventsCreated.perSecond, 2)} | |`,
    `| lease updates (any client) | ${codes(r.apiserver.leaseUpdates.byCode)} | ${n(r.apiserver.leaseUpdates.perSecond, 2)} | |`,
    '',
    `Mean reconcile time (the operator's histogram): ${n((r.reconciles.meanSeconds ?? 0) * 1000, 1)} ms.`,
    `After the window, ${raw.statusAfter.current} of ${raw.statusAfter.resources} ReplicationLags had a status of their current`,
    `generation; the oldest last decision was ${n(raw.statusAfter.maxDecisionAgeSeconds, 1)} s old (poll ${p.pollSeconds} s).`,
    `Decision basis: ${counts(raw.statusAfter.basis)}; desired replicas: ${counts(raw.statusAfter.desired)};`,
    `Ready: ${counts(raw.statusAfter.ready)}; MetricsAvailable: ${counts(raw.statusAfter.metricsAvailable)}.`,
    '',
    '**Errors**',
    '',
    ...errorLines.map((line) => (line.startsWith('  -') ? line : `- ${line}`)),
    '',
    '## The machine and what else ran',
    '',
    `**Machine:** ${raw.machine.cores} cores (${raw.machine.cpu_model}), ${raw.machine.mem_gib} GiB, Node ${raw.machine.node};`,
    `Kubernetes ${raw.tools.kubernetes ?? '?'}, etcd ${raw.tools.etcd ?? '?'}, Prometheus ${raw.tools.prometheus ?? '?'}, kubectl on PATH.`,
    `The operator, kube-apiserver, etcd, kube-controller-manager, Prometheus and this driver (which also serves the`,
    `fake replicator's metrics) share these cores, and other work on the machine may too.`,
    '',
    `**Load average** (1, 5, 15 min) at the start: ${raw.loadAverage.start.join(', ')}; when the window started:`,
    `${raw.loadAverage.windowStart.join(', ')}; when it ended: ${raw.loadAverage.windowEnd.join(', ')}. The driver waits (at most`,
    `${LOAD_WAIT_MS / 60_000} min, polling every ${LOAD_POLL_MS / 1000} s, then going on regardless) for the 1-minute figure to fall`,
    `below ${loadMax}:`,
    ...raw.loadGates.map((g) => `- ${gate(g)}`),
    '',
    `During the window the whole machine was busy ${n(r.machine.busyCores, 2)} cores' worth on average (steal`,
    `${n(r.machine.stealPercent, 2)} %). CPU of the stack's processes over the same window, % of one core:`,
    Object.entries(r.othersPercentOfOneCore)
      .map(([name, value]) => `${name} ${n(value, 1)}`)
      .join(', ') + '.',
    '',
    '## Setup',
    '',
    `- A local control plane without nodes (etcd, kube-apiserver, kube-controller-manager, as \`make up WITH=controlplane\``,
    `  starts it) and a Prometheus (scrape interval 2 s), on loopback, in a run dir of their own, created fresh;`,
    `  everything in namespace \`${raw.parameters.namespace}\`.`,
    `- ${p.resources} Deployments (${p.spec.initialReplicas} replica each, an image that is never pulled) and ${p.resources} ReplicationLags, each`,
    `  targeting its own Deployment with \`pollIntervalSeconds: ${p.pollSeconds}\`, \`targetLagSeconds: ${p.spec.targetLagSeconds}\`,`,
    `  \`maxReplicas: ${p.spec.maxReplicas}\` (queries below), applied server-side in two kubectl calls`,
    `  (${n(raw.setup.applyDeploymentsSeconds)} s and ${n(raw.setup.applyReplicationLagsSeconds)} s).` +
      (raw.setup.controlPlaneSettleSeconds === undefined
        ? r.apiserver.eventsCreated.perSecond > 0
          ? ' This run did not wait for kube-controller-manager to create a ReplicaSet and a pod per Deployment (at its own pace) before starting the operator: that creation went on into the window (the Events created in it are its ScalingReplicaSet and SuccessfulCreate), a load on the API server that later runs avoid.'
          : ' This run did not wait for kube-controller-manager to create the pods before starting the operator, but it had finished before the window (no Events in it).'
        : ` The operator started once kube-controller-manager had created a ReplicaSet and a pod for every Deployment (${n(raw.setup.controlPlaneSettleSeconds)} s).`),
    `- The replicator's metrics come from the integration suite's fake exporter, which Prometheus scrapes: λ ${p.load.publishedPerSecond}/s,`,
    `  μ ${n(p.load.appliedPerSecond / p.load.busyFraction, 0)}/s per replica, a backlog of ${p.load.backlogPerPartition.join(' + ')} on ${p.load.backlogPerPartition.length} partitions. Every`,
    `  reconcile runs the ${p.queriesPerReconcile} instant queries (or shares their answers, if the build does), the policy computes a`,
    `  throughput decision of 1 replica (what every Deployment has), and the status is patched; nothing is scaled.`,
    queryMode === 'distinct'
      ? `- **Queries: distinct.** Each ReplicationLag's queries are the built-in ones with a matcher of its own that every series passes (\`{bench_resource!="<its name>"}\`): the same answers, but no two resources ask the same PromQL, as resources watching different replicators would not.`
      : `- **Queries: identical.** Every ReplicationLag runs the built-in queries unchanged, so all ${p.resources} ask the same PromQL of the same Prometheus: the best case for an operator that shares answers between resources (this build ${r.prometheusQueries.perReconcile !== null && r.prometheusQueries.perReconcile >= p.queriesPerReconcile * 0.9 ? 'shares none: it asked every query for every reconcile' : 'does share them'}).`,
    `- One operator process (\`node ${raw.operator.source === 'commit' ? `.pulse-bench-operator/operator-${raw.operator.commit}/` : ''}operator/dist/main.js\`), configured only by: ${Object.entries(
      p.operatorEnv,
    )
      .map(([k, val]) => `\`${k}=${val}\``)
      .join(', ')}; the rest`,
    `  are the defaults (concurrency 4, leader election on with client-go's timings). Prometheus scrapes its`,
    `  \`/metrics\` every 2 s, as it does every service of the local stack.`,
    `- The load gate came right before the operator started (once it runs, the system under test is part of the`,
    `  load). The window started once every ReplicationLag had a status of its generation (the warm-up:`,
    `  ${n(raw.setup.warmupSeconds)} s from the operator's start) and the operator had run ${p.resources} more reconciles after that`,
    `  (${n(raw.setup.settleSeconds)} s), so that it measures the periodic regime, not the start-up burst.`,
    '',
  ];
  if (raw.profile) {
    const prof = raw.profile.summary;
    lines.push(
      '## What dominates: a CPU profile',
      '',
      `After the measurement (and outside it) a second operator ran under \`node --cpu-prof\` (sampling every`,
      `${PROFILE_INTERVAL_US / 1000} ms) on the same ${p.resources} resources; once settled, ${raw.profile.windowSeconds} s of it were profiled. It used`,
      `${n(raw.profile.cpuPercentOfOneCore, 2)} % of one core in that window, the profiler's own cost included (measured above without it:`,
      `${n(r.cpu.meanPercentOfOneCore, 2)} %). Profile ${prof.scope === 'window' ? 'samples of that window only' : 'of the whole process (the window could not be cut out)'}:`,
      `${n(prof.busyMs / 1000, 1)} s of ${n(prof.sampledMs / 1000, 1)} s sampled were not idle. Self time by where the code lives:`,
      '',
      '| where | self ms | share of non-idle |',
      '| --- | --- | --- |',
      ...prof.byCategory.map(categoryRow),
      '',
      'The functions with the most self time:',
      '',
      '| function | where | self ms | share of non-idle |',
      '| --- | --- | --- | --- |',
      ...prof.topFunctions.map(functionRow),
      '',
      'The same self time charged to the nearest caller outside Node core and V8 natives (who made Node do the work):',
      '',
      '| caller lives in | ms | share of non-idle |',
      '| --- | --- | --- |',
      ...prof.byCallerCategory.map(categoryRow),
      '',
      '| caller | where | ms | share of non-idle |',
      '| --- | --- | --- | --- |',
      ...prof.topCallers.map(functionRow),
      '',
      `The profile itself: \`${prof.file}\` (in the run dir, which the next run replaces; not kept in the repository).`,
      '',
    );
  }
  lines.push(
    '## What this does not show',
    '',
    "- **No nodes, no pods running.** The Deployments' pods stay Pending (no scheduler, no kubelet). The operator reads only",
    '  the scale subresource, so this does not change its work, but a real API server is busier, farther away (no',
    '  loopback) and may throttle; its latency would show as longer reconciles, not as more operator CPU.',
    '- **One Prometheus on loopback with one tiny target.** Every query evaluates over a handful of series. A',
    '  production Prometheus with many series and a network in between answers more slowly, so more queries are in',
    '  flight at once; what that costs the operator is not measured here.',
    `- **${p.resources} resources, one replicator's metrics.** All ReplicationLags read the same series${queryMode === 'distinct' ? ' (through PromQL of their own)' : ' with the same built-in PromQL'};`,
    '  in a real cluster they would watch different replicators, whose series differ: more work for Prometheus, and',
    queryMode === 'distinct'
      ? '  for the operator the same number of PromQL queries as here (batched into as few requests, unless one breaks a batch).'
      : '  no answer an operator could share between resources. `--queries distinct` measures that case.',
    '- **The steady state only.** The decision equals the current count, so there is no scaling, no Event and no',
    '  conflict in the window. Startup (listing and reconciling all N at once) is reported as the warm-up time, not',
    '  measured for CPU. No leader failover, no second (follower) replica, no API server restart.',
    `- **A ${n(r.windowSeconds, 0)} s window.** Enough for a CPU average over ${n(r.windowSeconds / p.pollSeconds, 0)} polls of every resource, not for a slow memory`,
    '  leak: RSS at start and end of the window says little about hours or days.',
    "- **Scraped every 2 s.** The local stack's Prometheus scrapes the operator's `/metrics` every 2 s; the chart's",
    '  default is 30 s, so the operator renders its metrics 15 times as often here as in a cluster: a slight overstatement.',
    "- **A shared 2-core machine.** The operator's CPU time is its own whatever else runs, but contention lengthens",
    '  reconciles and can shift work between windows; the load averages above say how busy the machine was. The host',
    `  runs Node ${raw.machine.node}, not necessarily the image's Node, with no container CPU or memory limit.`,
    '',
  );
  return lines.join('\n');
}
