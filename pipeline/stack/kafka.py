"""Apache Kafka 4.x from Maven Central, single-node KRaft (combined broker + controller).

Jars are fetched once with `mvn dependency:copy-dependencies` (pom.xml beside this file) and
cached under `<stack home>/kafka/libs`; storage is formatted once with `kafka.tools.StorageTool`.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import shutil
import subprocess
import uuid
from importlib import resources
from pathlib import Path

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

from runtime.settings import StackSettings
from schemas.errors import SportsflowError


class StackError(SportsflowError):
    """A local service cannot be installed, started or reached."""


POM = resources.files("pipeline.stack").joinpath("pom.xml")
LOG4J = resources.files("pipeline.stack").joinpath("log4j2.xml")


def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    assert match, "pom.xml lacks <kafka.version>"
    return match.group(1)


def require_tool(name: str, why: str, install_hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"`{name}` was not found on PATH; it is needed {why}. Install it: {install_hint}")
    return path


def ensure_jars(home: Path) -> Path:
    """Download the broker jars once; later calls return at once."""
    libs = home / "kafka" / "libs"
    marker = libs / f".kafka-{kafka_version()}"
    if marker.exists():
        return libs
    require_tool("java", "to run the Kafka broker", "Java 17+, e.g. `apt-get install openjdk-17-jre-headless`")
    mvn = require_tool("mvn", "to fetch the Kafka jars from Maven Central", "`apt-get install maven`")
    if libs.exists():
        shutil.rmtree(libs)
    libs.mkdir(parents=True)
    pom = home / "kafka" / "pom.xml"
    pom.write_text(POM.read_text())
    result = subprocess.run(  # noqa: S603 - fixed argv
        [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
         f"-DoutputDirectory={libs}", "-DincludeScope=runtime"],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise StackError(f"fetching Kafka jars with Maven failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    marker.touch()
    return libs


def server_properties(stack: StackSettings, data_dir: Path) -> str:
    port, cport = stack.kafka_port, stack.kafka_controller_port
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{cport}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={data_dir}",
        # As on MSK: topics are created deliberately (sportsflow creates its own), never by a typo.
        "auto.create.topics.enable=false",
        "num.partitions=4",
        # Small internal topics: one node, fast start, fast tests.
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=4",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=4",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "log.retention.hours=168",
        "log.segment.bytes=67108864",
        "",
    ])


def java_argv(libs: Path, main: str, *args: str) -> list[str]:
    java = require_tool("java", "to run the Kafka broker", "Java 17+, e.g. `apt-get install openjdk-17-jre-headless`")
    return [
        java, "-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={LOG4J}",
        "-cp", f"{libs}/*", main, *args,
    ]


def new_cluster_id() -> str:
    """A random KRaft cluster id: 16 bytes, URL-safe base64, never starting with "-".

    The storage tool reads an id such as "-Xy3…" as an option and fails ("argument --cluster-id/-t:
    expected one argument"): one start in 64 failed so. Kafka's own Uuid.randomUuid() draws again in
    that case, and so do we.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def ensure_formatted(stack: StackSettings, libs: Path) -> Path:
    """Write server.properties and format the storage directory on first use."""
    kafka_home = stack.home / "kafka"
    data_dir = (kafka_home / "data").resolve()
    config = kafka_home / "server.properties"
    config.write_text(server_properties(stack, data_dir))
    if (data_dir / "meta.properties").exists():
        return config
    cluster_id = new_cluster_id()
    result = subprocess.run(  # noqa: S603 - fixed argv
        java_argv(libs, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)),
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return config


async def _metadata_ok(bootstrap: str) -> bool:


    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # a refused probe is expected while starting

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except (KafkaError, OSError):
        return False
    finally:
        await client.close()


def kafka_healthy(bootstrap: str) -> bool:
    """Ready means a metadata request succeeds, not merely that the port accepts connections."""
    try:
        return asyncio.run(asyncio.wait_for(_metadata_ok(bootstrap), timeout=5))
    except TimeoutError:
        return False
