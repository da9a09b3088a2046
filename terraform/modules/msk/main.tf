# Amazon MSK (provisioned, KRaft) with IAM authentication only, TLS everywhere, encryption at
# rest under a customer-managed key, broker logs in CloudWatch and per-topic/per-broker metrics
# (consumer-lag metrics such as SumOffsetLag drive the worker's autoscaling).
#
# Topics are created by the app (auto.create.topics.enable=false so a typo fails loudly).

locals {
  replication_factor = min(3, var.broker_count)
  min_insync         = max(1, local.replication_factor - 1)
}

module "kms" {
  source = "../kms"

  alias       = "${var.name}-msk"
  description = "${var.name} MSK encryption at rest"
  account_id  = var.account_id
}

resource "aws_msk_configuration" "this" {
  name           = "${var.name}-${replace(var.kafka_version, ".", "-")}"
  kafka_versions = [var.kafka_version]
  description    = "Sportsflow broker defaults"

  server_properties = <<-EOT
    auto.create.topics.enable=false
    default.replication.factor=${local.replication_factor}
    min.insync.replicas=${local.min_insync}
    num.partitions=6
    unclean.leader.election.enable=false
    log.retention.hours=${var.log_retention_hours}
  EOT

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_msk_cluster" "this" {
  cluster_name           = var.name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = var.broker_count
  enhanced_monitoring    = "PER_TOPIC_PER_BROKER"

  broker_node_group_info {
    instance_type   = var.instance_type
    client_subnets  = var.subnet_ids
    security_groups = [var.security_group_id]

    storage_info {
      ebs_storage_info {
        volume_size = var.volume_size
      }
    }

    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  client_authentication {
    unauthenticated = false
    sasl {
      iam = true
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = module.kms.arn
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  open_monitoring {
    prometheus {
      jmx_exporter {
        enabled_in_broker = true
      }
      node_exporter {
        enabled_in_broker = true
      }
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = var.log_group_name
      }
    }
  }
}
