#!/usr/bin/env bash
# Installs Apache Kafka (broker + tools) from Maven Central: no tarball, no download outside mvn.
#
# tools/kafka/pom.xml lists kafka_<scala>, kafka-tools and the reload4j logging binding; Maven
# copies them with their runtime dependencies into one libs/ folder. Layout of the install dir:
#   libs/*.jar                  java -cp "$dir/libs/*" kafka.Kafka server.properties
#   log4j.properties            broker: INFO to stdout (the harness redirects it to a file)
#   tools-log4j.properties      CLI tools: WARN to stderr, so their stdout stays clean
# Uses the default Maven local repository (~/.m2/repository).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_kafka() {
  local dir; dir="$(tool_dir kafka "$KAFKA_VERSION")"
  installed "$dir" && return 0
  log "fetching Kafka $KAFKA_VERSION (Scala $KAFKA_SCALA_VERSION) from Maven Central"
  mkdir -p "$dir"
  rm -rf "$dir/libs" # a half-finished earlier attempt must not leave stray jars on the classpath
  mvn -q -B -Dstyle.color=never -f "$TOOLS_ROOT_DIR/kafka/pom.xml" \
    -Dkafka.version="$KAFKA_VERSION" -Dscala.binary.version="$KAFKA_SCALA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$dir/libs" -DincludeScope=runtime >&2
  [[ -f "$dir/libs/kafka_$KAFKA_SCALA_VERSION-$KAFKA_VERSION.jar" ]] || {
    log "kafka_$KAFKA_SCALA_VERSION-$KAFKA_VERSION.jar missing from $dir/libs"; return 1; }

  cat >"$dir/log4j.properties" <<'LOG4J'
# Kafka broker logging (reload4j): INFO to stdout, noisy loggers at WARN.
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.Target=System.out
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel$=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.authorizer.logger=WARN
# Per-partition chatter: every one of __consumer_offsets' 50 partitions logs several lines.
log4j.logger.kafka.log=WARN
log4j.logger.kafka.cluster.Partition=WARN
log4j.logger.kafka.coordinator.group=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.kafka.server.DelayedOperationPurgatory$ExpiredOperationReaper=WARN
log4j.logger.kafka.server.ClientQuotaManager$ThrottledChannelReaper=WARN
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
log4j.logger.org.apache.kafka.raft=WARN
log4j.logger.org.apache.kafka.image.loader=WARN
log4j.logger.org.apache.kafka.metadata=WARN
LOG4J
  cat >"$dir/tools-log4j.properties" <<'LOG4J'
# Kafka command-line tools (TopicCommand, ConsoleConsumer, ProducerPerformance): WARN to stderr.
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
LOG4J
  mark_installed "$dir"
}

with_lock kafka install_kafka
