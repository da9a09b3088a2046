variable "name" {
  description = "Name prefix, sportsflow-<environment>."
  type        = string
}

variable "aws_region" {
  description = "Region (gateway endpoint service names)."
  type        = string
}

variable "availability_zones" {
  description = "Zone names to use (first az_count of them); empty means <region>a, b, c."
  type        = list(string)
  default     = []
}

variable "cidr_block" {
  description = "VPC CIDR."
  type        = string
}

variable "az_count" {
  description = "Number of availability zones to spread subnets over."
  type        = number
}

variable "single_nat_gateway" {
  description = "One NAT gateway for every AZ instead of one per AZ."
  type        = bool
}

variable "alb_ingress_cidrs" {
  description = "CIDRs allowed to reach the ALB on 443."
  type        = list(string)
}

variable "flow_log_group_arn" {
  description = "CloudWatch log group receiving the VPC flow logs."
  type        = string
}

variable "container_ports" {
  description = "Container ports the ALB forwards to, by service."
  type        = map(number)
}

variable "msk_iam_port" {
  description = "MSK bootstrap port for SASL/IAM over TLS."
  type        = number
  default     = 9098
}
