"""VPC mode: the network the stage's SageMaker jobs and model attach to.

A VPC the app creates has private subnets only (no internet gateway, no NAT), so what a
container can reach is exactly the endpoints below:

- S3, a gateway endpoint (no hourly charge): every job's inputs and outputs, the model
  download, data capture, and the Evaluate step's and the monitor's own S3 calls;
- interface endpoints for the services the non-isolated containers call themselves
  (``INTERFACE_ENDPOINTS``), each with its reason.

What is deliberately not here: ECR (SageMaker pulls the framework image itself, outside the
job's network interfaces: "SageMaker AI automatically pulls the training container image"),
STS and KMS (no container calls them: credentials come from SageMaker, S3 uses the key
server-side), SageMaker Runtime (nothing in the VPC invokes the endpoint), Glue and
EventBridge (the Glue jobs and the Lambda functions stay outside the VPC; they call AWS
APIs only). The price of the interface endpoints is in docs/cost.md (``make cost``).

Built from CloudFormation resources with the zones as ``Fn::GetAZs`` picks, so synth needs
no availability-zone lookup (no credentials), as every synth of this app.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Fn, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.nag import acknowledge

CIDR = "10.40.0.0/16"
HTTPS = 443
# Service (the endpoint's last name part) -> who in the VPC calls it.
INTERFACE_ENDPOINTS = {
    "sagemaker.api": "Evaluate and the monitor read the model registry "
    "(ListModelPackages, DescribeModelPackage).",
    "logs": "The job and model containers' logs go to CloudWatch Logs.",
    "monitoring": "The monitor publishes its metrics (PutMetricData); training jobs their "
    "metric definitions' values.",
}


@dataclass(frozen=True)
class JobNetwork:
    """Subnets and security groups a SageMaker job or model attaches to (ids or tokens)."""

    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]

    def vpc_config(self) -> dict[str, list[str]]:
        """The ``VpcConfig`` of a CreateProcessingJob / CreateTrainingJob request."""
        return {
            "Subnets": list(self.subnet_ids),
            "SecurityGroupIds": list(self.security_group_ids),
        }


class StageNetwork(Construct):
    """A private VPC for the stage's SageMaker containers: one isolated subnet per zone,
    a security group for the containers, the S3 gateway endpoint and the interface
    endpoints they call, and flow logs (encrypted, with the stage's retention)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        availability_zones: int,
        key: kms.IKey,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        vpc = ec2.CfnVPC(
            self, "Vpc", cidr_block=CIDR, enable_dns_hostnames=True, enable_dns_support=True
        )
        self.vpc_id = vpc.ref
        acknowledge(
            vpc,
            "NIST.800.53.R5-VPCDefaultSecurityGroupClosed",
            "Nothing is ever placed in the default security group: every network interface "
            "in this VPC (the SageMaker containers, the interface endpoints) gets one of "
            "the two explicit groups below, and the VPC has no route out. Closing it would "
            "take CDK's custom-resource Lambda (and its role) revoking the rules at deploy.",
        )
        routes, subnets = self._private_subnets(vpc, availability_zones)
        containers, endpoints = self._security_groups(vpc)
        ec2.CfnVPCEndpoint(
            self,
            "S3",
            vpc_id=vpc.ref,
            service_name=f"com.amazonaws.{stack.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[routes.ref],
        )
        self.interface_endpoints = {
            service: ec2.CfnVPCEndpoint(
                self,
                service.title().replace(".", ""),
                vpc_id=vpc.ref,
                service_name=f"com.amazonaws.{stack.region}.{service}",
                vpc_endpoint_type="Interface",
                subnet_ids=subnets,
                security_group_ids=[endpoints.attr_group_id],
                private_dns_enabled=True,
            )
            for service in INTERFACE_ENDPOINTS
        }
        self._flow_logs(vpc, key, log_retention_days, removal_policy)
        self.network = JobNetwork(
            subnet_ids=tuple(subnets), security_group_ids=(containers.attr_group_id,)
        )

    def _private_subnets(
        self, vpc: ec2.CfnVPC, availability_zones: int
    ) -> tuple[ec2.CfnRouteTable, list[str]]:
        """One private subnet per zone, all on one route table; the subnets' ids."""
        # No route leaves the VPC: the route table holds only the local route and S3's.
        routes = ec2.CfnRouteTable(self, "Routes", vpc_id=vpc.ref)
        subnets = []
        for zone in range(availability_zones):
            subnet = ec2.CfnSubnet(
                self,
                f"Private{zone}",
                vpc_id=vpc.ref,
                cidr_block=Fn.select(zone, Fn.cidr(CIDR, 3, "12")),
                availability_zone=Fn.select(zone, Fn.get_azs()),
                map_public_ip_on_launch=False,
            )
            ec2.CfnSubnetRouteTableAssociation(
                self, f"Private{zone}Routes", subnet_id=subnet.ref, route_table_id=routes.ref
            )
            subnets.append(subnet.ref)
        return routes, subnets

    def _security_groups(
        self, vpc: ec2.CfnVPC
    ) -> tuple[ec2.CfnSecurityGroup, ec2.CfnSecurityGroup]:
        """The containers' group (HTTPS out) and the interface endpoints' (HTTPS in from it)."""
        containers = ec2.CfnSecurityGroup(
            self,
            "Containers",
            vpc_id=vpc.ref,
            group_description="SageMaker jobs and model containers of this stage",
            # HTTPS out only; with no internet route it reaches the endpoints and S3 only.
            security_group_egress=[
                ec2.CfnSecurityGroup.EgressProperty(
                    ip_protocol="tcp",
                    from_port=HTTPS,
                    to_port=HTTPS,
                    cidr_ip="0.0.0.0/0",
                    description="HTTPS to the VPC endpoints and the S3 gateway endpoint",
                )
            ],
        )
        endpoints = ec2.CfnSecurityGroup(
            self,
            "Endpoints",
            vpc_id=vpc.ref,
            group_description="Interface endpoints - HTTPS from this stage containers only",
            security_group_ingress=[
                ec2.CfnSecurityGroup.IngressProperty(
                    ip_protocol="tcp",
                    from_port=HTTPS,
                    to_port=HTTPS,
                    source_security_group_id=containers.attr_group_id,
                    description="HTTPS from this stage SageMaker containers",
                )
            ],
            # Endpoints answer; they never open connections.
            security_group_egress=[
                ec2.CfnSecurityGroup.EgressProperty(
                    ip_protocol="icmp",
                    from_port=252,
                    to_port=86,
                    cidr_ip="255.255.255.255/32",
                    description="No outbound traffic",
                )
            ],
        )
        return containers, endpoints

    def _flow_logs(
        self,
        vpc: ec2.CfnVPC,
        key: kms.IKey,
        retention_days: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        stack = Stack.of(self)
        group = logs.CfnLogGroup(
            self, "FlowLogs", kms_key_id=key.key_arn, retention_in_days=retention_days
        )
        group.apply_removal_policy(removal_policy)
        role = iam.Role(
            self,
            "FlowLogsRole",
            # Flow logs of this account only (confused deputy), as the VPC guide shows.
            assumed_by=iam.ServicePrincipal(
                "vpc-flow-logs.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:ec2:{stack.region}:"
                        f"{stack.account}:vpc-flow-log/*"
                    },
                },
            ),
            description="Delivers the stage VPC's flow logs to its log group.",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogGroups",
                    "logs:DescribeLogStreams",
                ],
                resources=[group.attr_arn],
            )
        )
        ec2.CfnFlowLog(
            self,
            "FlowLog",
            resource_id=vpc.ref,
            resource_type="VPC",
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_group_name=group.ref,
            deliver_logs_permission_arn=role.role_arn,
        )
