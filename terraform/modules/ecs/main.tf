# One ECS cluster, six Fargate services from one image (ENTRYPOINT sportsflow, the command picks
# the process). Rolling deploys keep 100 % healthy and may double capacity; the circuit breaker
# rolls a failing deployment back. Root filesystems are read-only; /tmp and the working
# directory /var/lib/sportsflow (Faust table data) are task-local volumes.

locals {
  data_dir = "/var/lib/sportsflow"

  # Per-service container settings. Ports follow Settings defaults (broadcaster 8765, api 8080,
  # Faust web 6066); tests/terraform checks them against runtime/settings.py.
  containers = {
    connectors = {
      command = ["connect"]
      port    = null
      health  = null
      env     = {}
      secrets = ["SPORTSFLOW_SENTRY_DSN"]
      nofile  = 4096
    }
    worker = {
      command = ["worker"]
      port    = 6066
      health  = "import socket; socket.create_connection(('127.0.0.1', 6066), timeout=3).close()"
      env = {
        SPORTSFLOW_PROCESSING__WEB_PORT = "6066"
      }
      secrets = ["SPORTSFLOW_SENTRY_DSN"]
      nofile  = 4096
    }
    broadcaster = {
      command = ["broadcast"]
      port    = 8765
      health  = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/health', timeout=3)"
      env = {
        SPORTSFLOW_BROADCASTER__HOST = "0.0.0.0"
        SPORTSFLOW_BROADCASTER__PORT = "8765"
      }
      secrets = ["SPORTSFLOW_SENTRY_DSN", "SPORTSFLOW_BROADCASTER__JWT_SECRET"]
      # One file descriptor per WebSocket client.
      nofile = 65535
    }
    api = {
      command = ["api"]
      port    = 8080
      health  = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=3)"
      env = {
        SPORTSFLOW_API__HOST = "0.0.0.0"
        SPORTSFLOW_API__PORT = "8080"
      }
      secrets = ["SPORTSFLOW_SENTRY_DSN", "SPORTSFLOW_BROADCASTER__JWT_SECRET", "SPORTSFLOW_API__INGEST_API_KEY"]
      nofile  = 8192
    }
    # Canonical topics -> the DynamoDB table (GET /events reads it).
    sink = {
      command = ["sink"]
      port    = null
      health  = null
      env     = {}
      secrets = ["SPORTSFLOW_SENTRY_DSN"]
      nofile  = 4096
    }
    # Raw and canonical topics -> the S3 archive (backfills older than Kafka's retention).
    archive = {
      command = ["archive"]
      port    = null
      health  = null
      env     = {}
      secrets = ["SPORTSFLOW_SENTRY_DSN"]
      nofile  = 4096
    }
  }
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  configuration {
    execute_command_configuration {
      kms_key_id = var.logs_kms_key_arn
      logging    = "OVERRIDE"

      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = var.log_group_names["ecs_exec"]
      }
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

resource "aws_ecs_task_definition" "this" {
  for_each = local.containers

  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.services[each.key].cpu)
  memory                   = tostring(var.services[each.key].memory)
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arns[each.key]

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }

  volume {
    name = "data"
  }

  container_definitions = jsonencode([
    {
      name                   = each.key
      image                  = var.image
      essential              = true
      entryPoint             = ["sportsflow"]
      command                = each.value.command
      readonlyRootFilesystem = true
      privileged             = false
      stopTimeout            = var.stop_timeout
      workingDirectory       = local.data_dir

      portMappings = each.value.port == null ? [] : [
        { name = each.key, containerPort = each.value.port, protocol = "tcp" },
      ]

      environment = [
        for k, v in merge(var.environment, each.value.env) : { name = k, value = v }
      ]

      secrets = [
        for k in each.value.secrets : { name = k, valueFrom = var.secrets[k] } if contains(keys(var.secrets), k)
      ]

      healthCheck = each.value.health == null ? null : {
        command     = ["CMD", "python", "-c", each.value.health]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 60
      }

      mountPoints = [
        { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
        { sourceVolume = "data", containerPath = local.data_dir, readOnly = false },
      ]

      ulimits = [
        { name = "nofile", softLimit = each.value.nofile, hardLimit = each.value.nofile },
      ]

      linuxParameters = {
        initProcessEnabled = true
      }

      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = var.log_group_names[each.key]
          awslogs-region        = var.aws_region
          awslogs-stream-prefix = each.key
          mode                  = "non-blocking"
          max-buffer-size       = "25m"
        }
      }
    },
  ])
}

resource "aws_ecs_service" "this" {
  for_each = local.containers

  name                               = each.key
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this[each.key].arn
  desired_count                      = var.services[each.key].desired_count
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_execute_command             = var.enable_execute_command
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  health_check_grace_period_seconds  = contains(keys(var.target_group_arns), each.key) ? 60 : null

  capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [var.security_group_id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = contains(keys(var.target_group_arns), each.key) ? [var.target_group_arns[each.key]] : []
    content {
      target_group_arn = load_balancer.value
      container_name   = each.key
      container_port   = each.value.port
    }
  }

  lifecycle {
    # Application Auto Scaling owns the running count after the first deploy.
    ignore_changes = [desired_count]
  }

  depends_on = [aws_ecs_cluster_capacity_providers.this]
}

# --- autoscaling -----------------------------------------------------------------------------

resource "aws_appautoscaling_target" "this" {
  for_each = local.containers

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.this[each.key].name}"
  min_capacity       = var.services[each.key].min_count
  max_capacity       = var.services[each.key].max_count
}

resource "aws_appautoscaling_policy" "cpu" {
  for_each = local.containers

  name               = "${var.name}-${each.key}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[each.key].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[each.key].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[each.key].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

# Worker, DynamoDB sink, archive: total consumer lag of the service's group on the topics it reads
# (MSK SumOffsetLag), per running task.
resource "aws_appautoscaling_policy" "lag" {
  for_each = var.lag_scaling

  name               = "${var.name}-${each.key}-consumer-lag"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[each.key].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[each.key].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[each.key].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = each.value.target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    customized_metric_specification {
      dynamic "metrics" {
        for_each = each.value.topics
        content {
          id          = "lag${metrics.key}"
          return_data = false
          metric_stat {
            stat = "Maximum"
            metric {
              namespace   = "AWS/Kafka"
              metric_name = "SumOffsetLag"
              dimensions {
                name  = "Cluster Name"
                value = var.msk_cluster_name
              }
              dimensions {
                name  = "Consumer Group"
                value = each.value.group
              }
              dimensions {
                name  = "Topic"
                value = metrics.value
              }
            }
          }
        }
      }

      metrics {
        id          = "tasks"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"
            dimensions {
              name  = "ClusterName"
              value = aws_ecs_cluster.this.name
            }
            dimensions {
              name  = "ServiceName"
              value = aws_ecs_service.this[each.key].name
            }
          }
        }
      }

      metrics {
        id          = "lag_per_task"
        label       = "Consumer lag per ${each.key} task"
        expression  = "SUM([${join(", ", [for i, _ in each.value.topics : "lag${i}"])}]) / tasks"
        return_data = true
      }
    }
  }
}

# Broadcaster: open WebSocket connections per task (app metric WebSocketConnections, EMF).
resource "aws_appautoscaling_policy" "broadcaster_connections" {
  name               = "${var.name}-broadcaster-connections"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this["broadcaster"].service_namespace
  scalable_dimension = aws_appautoscaling_target.this["broadcaster"].scalable_dimension
  resource_id        = aws_appautoscaling_target.this["broadcaster"].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.broadcaster_connections_target
    scale_in_cooldown  = 600
    scale_out_cooldown = 60

    customized_metric_specification {
      namespace   = var.metrics_namespace
      metric_name = "WebSocketConnections"
      statistic   = "Average"
    }
  }
}
