variable "environment" {
  description = "Deployment environment. The app's Settings also accept `local`, which is never deployed."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "aws_region" {
  description = "AWS region to deploy into (also passed to the app as SPORTSFLOW_AWS__REGION)."
  type        = string
  default     = "us-east-1"
}

variable "tags" {
  description = "Extra tags applied to every resource."
  type        = map(string)
  default     = {}
}

# --- network -------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR of the VPC; public /24s and private /20s are carved out of it."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "Number of availability zones (2 or 3)."
  type        = number
  default     = 3

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3."
  }
}

variable "availability_zones" {
  description = "Zone names to spread over (the first az_count are used); empty means <region>a, <region>b, <region>c."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || length(var.availability_zones) >= var.az_count
    error_message = "availability_zones must list at least az_count zones (or be empty)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all AZs (cheaper, not AZ-fault-tolerant). Keep false in prod."
  type        = bool
  default     = false
}

variable "alb_ingress_cidrs" {
  description = "CIDRs allowed to reach the public HTTPS listener."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

# --- application ---------------------------------------------------------------------------

variable "container_image" {
  description = "The one Sportsflow image (built from the repo Dockerfile), e.g. <account>.dkr.ecr.<region>.amazonaws.com/sportsflow:<git-sha>."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate ARN for the ALB HTTPS listener."
  type        = string
}

variable "log_level" {
  description = "SPORTSFLOW_LOG_LEVEL for every service."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be a Python log level name."
  }
}

variable "enable_sentry" {
  description = "Inject SPORTSFLOW_SENTRY_DSN from Secrets Manager (put the DSN into the secret before deploying)."
  type        = bool
  default     = true
}

variable "services" {
  description = "Per-service Fargate sizing and autoscaling bounds. Keys: connectors, worker, broadcaster, api, sink, archive."
  type = map(object({
    cpu           = number
    memory        = number
    desired_count = number
    min_count     = number
    max_count     = number
  }))
  default = {
    connectors  = { cpu = 512, memory = 1024, desired_count = 2, min_count = 2, max_count = 4 }
    worker      = { cpu = 1024, memory = 2048, desired_count = 2, min_count = 2, max_count = 12 }
    broadcaster = { cpu = 1024, memory = 2048, desired_count = 2, min_count = 2, max_count = 20 }
    api         = { cpu = 512, memory = 1024, desired_count = 2, min_count = 2, max_count = 8 }
    sink        = { cpu = 512, memory = 1024, desired_count = 2, min_count = 1, max_count = 6 }
    archive     = { cpu = 512, memory = 1024, desired_count = 1, min_count = 1, max_count = 4 }
  }

  validation {
    condition     = toset(keys(var.services)) == toset(["connectors", "worker", "broadcaster", "api", "sink", "archive"])
    error_message = "services must define exactly connectors, worker, broadcaster, api, sink and archive."
  }
}

variable "cpu_target_percent" {
  description = "Target average CPU utilisation for every service's CPU scaling policy."
  type        = number
  default     = 60
}

variable "worker_lag_per_task_target" {
  description = "Target consumer lag (messages on the raw topics) per worker task."
  type        = number
  default     = 1000
}

variable "sink_lag_per_task_target" {
  description = "Target consumer lag (messages on the canonical topics) per DynamoDB sink task."
  type        = number
  default     = 2000
}

variable "archive_lag_per_task_target" {
  description = "Target consumer lag (messages on the raw and canonical topics) per archive task."
  type        = number
  default     = 20000
}

variable "broadcaster_connections_per_task_target" {
  description = "Target WebSocket connections per broadcaster task."
  type        = number
  default     = 5000
}

variable "enable_execute_command" {
  description = "Allow `aws ecs execute-command` into tasks (sessions are logged, encrypted)."
  type        = bool
  default     = false
}

# --- kafka ---------------------------------------------------------------------------------

variable "msk_instance_type" {
  description = "MSK broker instance type."
  type        = string
  default     = "kafka.m7g.large"
}

variable "msk_broker_count" {
  description = "Number of MSK brokers; a multiple of az_count."
  type        = number
  default     = 3

  validation {
    condition     = var.msk_broker_count % var.az_count == 0
    error_message = "msk_broker_count must be a multiple of az_count."
  }
}

variable "msk_volume_size" {
  description = "EBS volume size per broker, GiB."
  type        = number
  default     = 100
}

variable "kafka_topic_partitions" {
  description = "Partitions for the topics Sportsflow creates (SPORTSFLOW_KAFKA__TOPIC_PARTITIONS); caps worker parallelism."
  type        = number
  default     = 12
}

# --- monitoring ----------------------------------------------------------------------------

variable "log_retention_days" {
  description = "CloudWatch Logs retention for every log group."
  type        = number
  default     = 365
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm SNS topic (each must confirm)."
  type        = list(string)
  default     = []
}

variable "alb_deletion_protection" {
  description = "Protect the ALB from deletion (turn off only to tear an environment down)."
  type        = bool
  default     = true
}
