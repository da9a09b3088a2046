# Sportsflow on AWS: MSK (Kafka 4.1, IAM auth) + ECS Fargate (one image, four services) behind an
# ALB, DynamoDB + S3 for storage, Secrets Manager for provider keys, CloudWatch for the alarms the
# original engine promised. Module layout and every checkov skip: README.md.

data "aws_caller_identity" "current" {}

locals {
  name = "sportsflow-${var.environment}"

  # --- the app's contract (schemas/topics.py, runtime/settings.py) ------------------------
  # Checked against the Python code by tests/terraform/test_structure.py.
  providers = ["theoddsapi", "sportsdataio", "sportradar", "apisports", "statscore", "jolpica"]
  # One raw topic per provider (schemas/topics.py raw_topic): derived, never a second list to keep.
  raw_topics = [for p in local.providers : "raw.${p}"]
  canonical_topics  = ["canonical.events", "canonical.odds", "canonical.race_results", "canonical.feed_status",
                       "canonical.settlements"]
  feed_status_topic = "canonical.feed_status"
  deadletter_topic  = "deadletter"
  # Entity-resolution review records (new fixtures, low-confidence merges) for operators.
  unmatched_topic = "canonical.unmatched"
  # Providers disagreeing on a matched fixture (score, status, start time).
  discrepancies_topic = "canonical.discrepancies"
  # Providers' team lists (compacted), fetched by the connectors, followed by every worker.
  reference_topic = "reference.teams"

  # Faust app id (Settings.processing.app_id): its consumer group (and stage 1's, "<id>-normalize"),
  # and the prefix of its internal topics (changelogs, leader topic: "<id>-*"; the resolve topic: "<id>.resolve").
  faust_app_id    = "sportsflow"
  internal_topics = ["sportsflow-*", "sportsflow.*"]
  consumer_groups = ["sportsflow", "sportsflow-*"]

  # Kafka access per service: topics it produces to, topics it consumes, consumer groups it joins.
  # Turned into kafka-cluster:* statements scoped to these topic/group ARNs by modules/iam.
  kafka_access = {
    connectors = {
      produce = flatten([local.raw_topics, local.feed_status_topic, local.deadletter_topic, local.reference_topic])
      consume = []
      groups  = []
    }
    worker = {
      produce = flatten([local.canonical_topics, local.deadletter_topic, local.unmatched_topic, local.discrepancies_topic, local.internal_topics])
      consume = flatten([local.raw_topics, local.canonical_topics, local.reference_topic, local.internal_topics])
      groups  = flatten([local.consumer_groups])
    }
    broadcaster = {
      produce = []
      consume = flatten([local.canonical_topics])
      groups  = flatten([local.consumer_groups])
    }
    api = {
      produce = flatten([local.raw_topics, local.deadletter_topic])
      consume = []
      groups  = []
    }
    sink = {
      produce = flatten([local.deadletter_topic])
      consume = flatten([local.sink_topics])
      groups  = flatten([local.sink_group])
    }
    archive = {
      produce = []
      consume = flatten([local.raw_topics, local.canonical_topics])
      groups  = flatten([local.archive_group])
    }
  }

  # Consumer groups of the sink and the archive (sinks/dynamodb.py, sinks/archive/writer.py),
  # and what each consumer group reads: the lag its service scales on.
  sink_topics   = ["canonical.events", "canonical.odds", "canonical.race_results", "canonical.settlements"]
  sink_group    = "${local.faust_app_id}-dynamodb"
  archive_group = "${local.faust_app_id}-archive"
  lag_scaling = {
    # Stage 1 of the worker reads the raw topics as its own group (schemas.topics.normalize_group).
    worker  = { group = "${local.faust_app_id}-normalize", topics = local.raw_topics, target = var.worker_lag_per_task_target }
    sink    = { group = local.sink_group, topics = local.sink_topics, target = var.sink_lag_per_task_target }
    archive = { group = local.archive_group, topics = concat(local.raw_topics, local.canonical_topics), target = var.archive_lag_per_task_target }
  }

  # DynamoDB / S3 access per service: "none", "read" or "write" (write includes read).
  data_access = {
    connectors  = { dynamodb = "none", s3 = "write" }
    worker      = { dynamodb = "write", s3 = "write" }
    broadcaster = { dynamodb = "read", s3 = "none" }
    api         = { dynamodb = "read", s3 = "none" }
    sink        = { dynamodb = "write", s3 = "none" }
    archive     = { dynamodb = "none", s3 = "write" }
  }

  secrets_manager_prefix = "sportsflow/${var.environment}/providers/"

  # Plain environment of every container (values are strings, as ECS wants them).
  # Empty endpoint URLs and keys make the app use real AWS endpoints and the task role.
  app_environment = {
    SPORTSFLOW_ENVIRONMENT                 = var.environment
    SPORTSFLOW_LOG_LEVEL                   = var.log_level
    SPORTSFLOW_KAFKA__BOOTSTRAP_SERVERS    = module.msk.bootstrap_brokers_sasl_iam
    SPORTSFLOW_KAFKA__SECURITY             = "iam"
    SPORTSFLOW_KAFKA__TOPIC_PARTITIONS     = tostring(var.kafka_topic_partitions)
    SPORTSFLOW_KAFKA__TOPIC_REPLICATION    = tostring(module.msk.replication_factor)
    SPORTSFLOW_AWS__REGION                 = var.aws_region
    SPORTSFLOW_AWS__DYNAMODB_TABLE         = module.storage.table_name
    SPORTSFLOW_AWS__S3_BUCKET              = module.storage.bucket_name
    SPORTSFLOW_AWS__ENDPOINT_URL_DYNAMODB  = ""
    SPORTSFLOW_AWS__ENDPOINT_URL_S3        = ""
    SPORTSFLOW_AWS__ACCESS_KEY_ID          = ""
    SPORTSFLOW_AWS__SECRET_ACCESS_KEY      = ""
    SPORTSFLOW_AWS__SECRETS_MANAGER_PREFIX = local.secrets_manager_prefix
    SPORTSFLOW_PROCESSING__APP_ID          = local.faust_app_id
  }
}

module "monitoring" {
  source = "./modules/monitoring"

  name               = local.name
  environment        = var.environment
  aws_region         = var.aws_region
  account_id         = data.aws_caller_identity.current.account_id
  log_retention_days = var.log_retention_days
  service_names      = keys(var.services)
  alarm_emails       = var.alarm_emails

  msk_cluster_name        = module.msk.cluster_name
  msk_broker_count        = var.msk_broker_count
  ecs_cluster_name        = module.ecs.cluster_name
  alb_arn_suffix          = module.alb.alb_arn_suffix
  target_group_arn_suffix = module.alb.target_group_arn_suffixes
}

module "network" {
  source = "./modules/network"

  name               = local.name
  aws_region         = var.aws_region
  cidr_block         = var.vpc_cidr
  az_count           = var.az_count
  availability_zones = var.availability_zones
  single_nat_gateway = var.single_nat_gateway
  alb_ingress_cidrs  = var.alb_ingress_cidrs
  flow_log_group_arn = module.monitoring.log_group_arns["vpc_flow"]
  container_ports = {
    broadcaster = 8765
    api         = 8080
  }
}

module "storage" {
  source = "./modules/storage"

  name       = local.name
  account_id = data.aws_caller_identity.current.account_id
  aws_region = var.aws_region
}

module "secrets" {
  source = "./modules/secrets"

  name           = local.name
  account_id     = data.aws_caller_identity.current.account_id
  provider_names = local.providers
  provider_path  = local.secrets_manager_prefix
  app_path       = "sportsflow/${var.environment}/app/"
}

module "msk" {
  source = "./modules/msk"

  name              = local.name
  account_id        = data.aws_caller_identity.current.account_id
  kafka_version     = "4.1.x.kraft"
  instance_type     = var.msk_instance_type
  broker_count      = var.msk_broker_count
  volume_size       = var.msk_volume_size
  subnet_ids        = module.network.private_subnet_ids
  security_group_id = module.network.msk_security_group_id
  log_group_name    = module.monitoring.log_group_names["msk"]
}

module "iam" {
  source = "./modules/iam"

  name                = local.name
  aws_region          = var.aws_region
  account_id          = data.aws_caller_identity.current.account_id
  msk_cluster_arn     = module.msk.cluster_arn
  kafka_access        = local.kafka_access
  data_access         = local.data_access
  table_arn           = module.storage.table_arn
  bucket_arn          = module.storage.bucket_arn
  data_kms_key_arn    = module.storage.kms_key_arn
  provider_secret_arns = module.secrets.provider_secret_arns
  app_secret_arns     = module.secrets.app_secret_arns
  secrets_kms_key_arn = module.secrets.kms_key_arn
  logs_kms_key_arn    = module.monitoring.kms_key_arn
  log_group_arns      = module.monitoring.log_group_arns
}

module "alb" {
  source = "./modules/alb"

  name                = local.name
  vpc_id              = module.network.vpc_id
  public_subnet_ids   = module.network.public_subnet_ids
  security_group_id   = module.network.alb_security_group_id
  certificate_arn     = var.certificate_arn
  access_logs_bucket  = module.storage.logs_bucket_name
  deletion_protection = var.alb_deletion_protection
  waf_log_group_arn   = module.monitoring.log_group_arns["waf"]
  broadcaster_port    = 8765
  api_port            = 8080
}

module "ecs" {
  source = "./modules/ecs"

  name                   = local.name
  aws_region             = var.aws_region
  image                  = var.container_image
  services               = var.services
  subnet_ids             = module.network.private_subnet_ids
  security_group_id      = module.network.tasks_security_group_id
  execution_role_arn     = module.iam.execution_role_arn
  task_role_arns         = module.iam.task_role_arns
  target_group_arns      = module.alb.target_group_arns
  log_group_names        = module.monitoring.log_group_names
  logs_kms_key_arn       = module.monitoring.kms_key_arn
  enable_execute_command = var.enable_execute_command
  environment            = local.app_environment
  secrets = merge(
    {
      SPORTSFLOW_BROADCASTER__JWT_SECRET = module.secrets.app_secret_arns["jwt_secret"]
      SPORTSFLOW_API__INGEST_API_KEY     = module.secrets.app_secret_arns["ingest_api_key"]
    },
    var.enable_sentry ? { SPORTSFLOW_SENTRY_DSN = module.secrets.app_secret_arns["sentry_dsn"] } : {},
  )

  cpu_target_percent             = var.cpu_target_percent
  msk_cluster_name               = module.msk.cluster_name
  lag_scaling                    = local.lag_scaling
  broadcaster_connections_target = var.broadcaster_connections_per_task_target
  metrics_namespace              = module.monitoring.metrics_namespace
}
